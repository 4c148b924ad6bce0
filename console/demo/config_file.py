"""The run's config file: the team's config plus a task derived from a replayed log.

The demo's workers are separate processes that read their settings from
``DISTILLERY_CONFIG``, so a task that exists only in the demo's memory would be
unknown to them (its events dead-lettered). The run's config is the original
file's text, untouched, followed by the derived ``[tasks.NAME]`` tables.

>>> print(toml_tables({"t": {"kind": "x", "labels": ["a", "b"], "gate": {"min_accuracy": 0.5}}}, ("tasks",)))
[tasks.t]
kind = "x"
labels = ["a", "b"]
<BLANKLINE>
[tasks.t.gate]
min_accuracy = 0.5
<BLANKLINE>
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from distillery.errors import ConfigError
from distillery.settings import Settings, load_settings
from distillery.taskspec import TaskSpec

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else json.dumps(key, ensure_ascii=False)


def toml_value(value: Any) -> str:
    """One TOML value (strings as JSON strings, which TOML reads alike; tables inline).

    >>> toml_value(["a\\nb", 2e-05, True, {"k": 1}])
    '["a\\\\nb", 2e-05, true, {k = 1}]'
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")  # TOML forbids a raw DEL
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_key(k)} = {toml_value(v)}" for k, v in value.items() if v is not None) + "}"
    raise TypeError(f"no TOML form for {type(value).__name__}: {value!r}")


def toml_tables(table: Mapping[str, Any], path: tuple[str, ...]) -> str:
    """``table`` as TOML tables under ``path``: keys first, then each sub-table; ``None`` is left out."""
    items = {k: v for k, v in table.items() if v is not None}
    subs = {k: v for k, v in items.items() if isinstance(v, Mapping)}
    out = []
    if len(subs) < len(items) or not subs:  # a table of tables only is implied by its sub-tables' headers
        out.append(f"[{'.'.join(_key(p) for p in path)}]")
        out += [f"{_key(k)} = {toml_value(v)}" for k, v in items.items() if k not in subs]
        out.append("")
    out += [toml_tables(v, (*path, k)) for k, v in subs.items()]
    return "\n".join(out)


def task_toml(spec: TaskSpec) -> str:
    """The ``[tasks.NAME]`` tables that declare ``spec``."""
    return toml_tables({spec.name: spec.model_dump(mode="json", exclude={"name"}, exclude_none=True)}, ("tasks",))


def write_run_config(settings: Settings, spec: TaskSpec, path: Path) -> Settings:
    """Write the config with ``spec`` added at ``path``; the settings, pointed at it for the workers.

    The file is read back: a config the workers would read differently is an error here.
    """
    original = Path(settings.config_path).read_text(encoding="utf-8") if settings.config_path else ""
    text = (original.rstrip("\n") + "\n\n" if original.strip() else "") + (
        f"# Added by `distillery demo --replay`: the task {spec.name!r}, derived from the replayed file.\n"
        + task_toml(spec))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    back = load_settings(path, env={}).tasks.get(spec.name)
    if back != spec:
        raise ConfigError(f"the derived task {spec.name!r} does not read back the same from the run's config",
                          source=str(path))
    return settings.with_overrides(config_path=str(path))
