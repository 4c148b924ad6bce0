"""The house's floors, held against the code: each package imports only what stands below it.

From the ground up: the capture SDK (``distillery_capture``, installed alone in
other teams' services, so it imports nothing of the rest); the contract
(``distillery``) that every process shares; the workers (``streams``, ``monitors``, ``trainer``, ``serving``) that stand on it;
the console (``console``: the ``distillery`` command and the demo) on top. The
dev kit (``devkit``: simulator, local broker, tiny test models) stands beside the
console and no production package imports it. Imports inside a function count
too: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLACES = {"distillery_capture": ROOT / "capture" / "src" / "distillery_capture"}
WORKERS = {"streams", "monitors", "trainer", "serving"}
FORBIDDEN: dict[str, set[str]] = {
    "distillery_capture": WORKERS | {"distillery", "console", "devkit"},
    "distillery": WORKERS | {"console", "devkit"},
    **{worker: {"console", "devkit"} for worker in WORKERS},
    "devkit": {"console"},
}


def imported_packages(path: Path) -> set[str]:
    """The top-level package of every module ``path`` imports (absolute imports only)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_imported_packages_reads_lazy_imports(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import os\n\ndef f():\n    from streams.pipeline import x\n    import devkit.sim\n")
    assert imported_packages(module) == {"os", "streams", "devkit"}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_package_imports_a_floor_above_it(package: str) -> None:
    paths = sorted(PLACES.get(package, ROOT / package).rglob("*.py"))
    assert paths, f"no modules found for {package}: the layout moved; update PLACES"
    offenders = [
        f"{path.relative_to(ROOT).as_posix()} imports {sorted(imported_packages(path) & FORBIDDEN[package])}"
        for path in paths
        if imported_packages(path) & FORBIDDEN[package]
    ]
    assert offenders == []
