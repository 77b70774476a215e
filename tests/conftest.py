"""Shared fixtures, and the guard that keeps tests away from a real engine.

As in cibuildwheel's unit tests, any test NOT marked ``engine`` gets a
``docker.from_env`` and (unless also marked ``network`` or ``allow_subprocess``) a
``subprocess.Popen`` that raise: a unit test that would reach Docker or run a
program fails loudly instead of depending on the machine. Network tests may run uv.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import docker  # type: ignore[import-untyped]
import pytest


class EngineUsedInUnitTest(RuntimeError):
    """A test not marked ``engine`` tried to reach Docker or run a program."""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "allow_subprocess: a test not marked engine that may run local programs (never docker)",
    )


def _refuse(what: str) -> Callable[..., NoReturn]:
    def refuse(*args: Any, **kwargs: Any) -> NoReturn:
        raise EngineUsedInUnitTest(
            f"{what} called in a test not marked `engine`: pass a fake instead "
            f"(args: {args!r:.200})"
        )

    return refuse


@pytest.fixture(autouse=True)
def _no_engine_outside_engine_tests(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    marks = {mark.name for mark in request.node.iter_markers()}
    if "engine" not in marks:
        monkeypatch.setattr(docker, "from_env", _refuse("docker.from_env"))
        if not marks & {"network", "allow_subprocess"}:
            monkeypatch.setattr(subprocess, "Popen", _refuse("subprocess.Popen"))
    yield


SdistFactory = Callable[..., Path]


@pytest.fixture
def make_sdist(tmp_path: Path) -> SdistFactory:
    """Write a real-shaped sdist: ``<name>-<version>/`` with PKG-INFO, setup.py and,
    when given, pyproject.toml. ``fmt`` is ``"tar.gz"`` or ``"zip"``."""

    def make(
        name: str = "demo",
        version: str = "1.0",
        *,
        pyproject: str | None = None,
        fmt: str = "tar.gz",
        extra: dict[str, str] | None = None,
    ) -> Path:
        top = f"{name}-{version}"
        files = {
            f"{top}/PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
            f"{top}/setup.py": "from setuptools import setup\nsetup()\n",
            **(extra or {}),
        }
        if pyproject is not None:
            files[f"{top}/pyproject.toml"] = pyproject
        out = tmp_path / "sdists" / f"{top}.{fmt}"
        out.parent.mkdir(parents=True, exist_ok=True)
        (_write_zip if fmt == "zip" else _write_tar)(out, files)
        return out

    return make


def _write_tar(path: Path, files: dict[str, str]) -> None:
    with tarfile.open(path, "w:gz") as archive:
        for name, text in files.items():
            data = text.encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


def _write_zip(path: Path, files: dict[str, str]) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
