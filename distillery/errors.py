"""One exception hierarchy for the whole project.

Every subclass also inherits the builtin it stands for, so callers that only know
Python's own exceptions (``ValueError``, ``ConnectionError``...) still catch them.
Messages name the field or key, show the bad value and say how to fix it.
"""

from __future__ import annotations

import re

# The root, the configuration error and the broker errors belong to the capture SDK (which installs
# without the rest); they are re-exported here so the hierarchy below builds on them.
from distillery_capture.errors import (  # noqa: F401 - re-exported
    BrokerAuthError,
    BrokerUnavailableError,
    ConfigError,
    DistilleryError,
)


class InvalidInputError(DistilleryError, ValueError):
    """An input does not satisfy its contract (an event, a routed request, a replay line, a monitor's saved state).

    ``problems`` lists every reason. Named apart from pydantic's ``ValidationError``,
    which the same modules catch when a record does not parse.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems) or "invalid event")


class UnknownTaskError(InvalidInputError):
    """An event names a task that no task spec declares."""


class BrokerCommandError(DistilleryError, RuntimeError):
    """The local broker could not be prepared, started or stopped."""


class TeacherError(DistilleryError, RuntimeError):
    """The teacher model could not give a usable answer."""


class TeacherUnavailableError(TeacherError, ConnectionError):
    """The teacher endpoint is down or the circuit breaker is open."""


class MalformedResponseError(TeacherError, ValueError):
    """The teacher endpoint answered 2xx with a body that is not a usable chat completion."""


class ArtifactError(DistilleryError, OSError):
    """An artifact (snapshot, adapter) is missing, unreadable or fails its checksum."""


class IntegrityError(ArtifactError):
    """An artifact's SHA-256 does not match the one its event announced."""


class TrainingError(DistilleryError, RuntimeError):
    """A train job cannot produce an adapter (too little data, bad snapshot...)."""


class ServingError(DistilleryError, RuntimeError):
    """A serving engine (in-process model, vLLM) refused or failed an adapter operation."""


_CREDENTIAL = re.compile(
    r"\b(?:sk|pk|rk)-[A-Za-z0-9_*-]{6,}+"  # OpenAI-style keys, masked or not (sk-proj-****abcd)
    r"|\b[Bb]earer\s++[A-Za-z0-9._~+/*=-]{6,}+"
    r"|\b(?i:api[_-]?key|access[_-]?token|token|password|secret)\b[\"']?\s*+[:=]\s*+[\"']?[^\s\"',;&]{4,}+"
)


def scrub_credentials(message: str) -> str:
    """An error message safe to store or publish: anything shaped like a key or token replaced.

    A teacher's 401 says which key it refused (``Incorrect API key provided: sk-proj-****abcd``);
    that message must not reach a review item, a topic or a log in full.

    >>> scrub_credentials("Error code: 401 - Incorrect API key provided: sk-proj-****abcd. See Bearer abc.def.ghi")
    'Error code: 401 - Incorrect API key provided: [CREDENTIAL]. See [CREDENTIAL]'
    """
    return _CREDENTIAL.sub("[CREDENTIAL]", message)


class ReviewError(DistilleryError, ValueError):
    """A review decision cannot be applied (an answer off the label set, JSON against the schema, an unknown item)."""
