"""The base image's interpreter, asked once per image digest (a fake engine)."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.build.interpreter import InterpreterProbe, libc_warning
from orchestrator.config import TargetConfig
from orchestrator.errors import ConfigError
from orchestrator.targets import Target

BOOKWORM = TargetConfig.default(Target.parse("cp311-manylinux_2_36_aarch64"))


class Engine:
    def __init__(self, out: str, digest: str = "sha256:" + "a" * 64) -> None:
        self.out = out
        self.digest = digest
        self.runs: list[tuple[str, str, list[str]]] = []

    def image_digest(self, _image: str, _platform: str) -> str:
        return self.digest

    def run_output(self, image: str, platform: str, command: list[str]) -> str:
        self.runs.append((image, platform, command))
        return self.out


def test_the_image_is_asked_once_per_digest(tmp_path: Path) -> None:
    engine = Engine("3.11.2\nglibc 2.36\n")
    found = InterpreterProbe(engine, tmp_path)(BOOKWORM)
    assert (found.python_full_version, found.libc, found.cached) == ("3.11.2", "glibc 2.36", False)
    assert engine.runs[0][:2] == ("python:3.11-slim", "linux/arm64")
    assert engine.runs[0][2][:2] == ["python3", "-c"]

    again = InterpreterProbe(engine, tmp_path)(BOOKWORM)
    assert (again.python_full_version, again.cached, len(engine.runs)) == ("3.11.2", True, 1)

    InterpreterProbe(Engine("3.11.11\n", digest="sha256:" + "b" * 64), tmp_path)(BOOKWORM)
    assert InterpreterProbe(engine, tmp_path)(BOOKWORM).python_full_version == "3.11.2"


def test_an_image_of_another_python_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        InterpreterProbe(Engine("3.12.7\nglibc 2.36\n"), tmp_path)(BOOKWORM)
    assert caught.value.message == (
        "cp311-manylinux_2_36_aarch64: base image python:3.11-slim holds Python 3.12.7, not 3.11"
    )


def test_a_glibc_older_than_the_target_id_says_is_a_warning(tmp_path: Path) -> None:
    found = InterpreterProbe(Engine("3.11.2\nglibc 2.31\n"), tmp_path)(BOOKWORM)
    assert libc_warning(BOOKWORM, found) == (
        "cp311-manylinux_2_36_aarch64: python:3.11-slim has glibc 2.31, older than "
        "manylinux_2_36_aarch64 says: use the image's glibc in the target id"
    )
