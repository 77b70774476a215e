"""Shared fixtures, and the guard that keeps tests away from a real engine.

As in cibuildwheel's unit tests, a test NOT marked ``engine`` cannot reach Docker:
``docker.from_env`` raises, and so does ``subprocess.Popen`` of a container engine's
CLI (docker, dockerd, podman, nerdctl, buildctl). Other local programs (sh, python,
uv) stay allowed: several modules' unit tests run them on purpose.
"""

from __future__ import annotations

import io
import shlex
import subprocess
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path, PurePath
from typing import Any, NoReturn

import docker  # type: ignore[import-untyped]
import pytest

ENGINE_PROGRAMS = frozenset({"docker", "dockerd", "podman", "nerdctl", "buildctl"})


class EngineUsedInUnitTest(RuntimeError):
    """A test not marked ``engine`` tried to reach a container engine."""


def _refuse(what: str) -> Callable[..., NoReturn]:
    def refuse(*args: Any, **kwargs: Any) -> NoReturn:
        raise EngineUsedInUnitTest(
            f"{what} called in a test not marked `engine`: pass a fake instead "
            f"(args: {args!r:.200})"
        )

    return refuse


def _program(args: Any) -> str:
    if isinstance(args, str | bytes | PurePath):
        text = args.decode() if isinstance(args, bytes) else str(args)
        words = shlex.split(text) if text.strip() else [""]
        return PurePath(words[0]).name
    first = next(iter(args), "")
    return PurePath(first.decode() if isinstance(first, bytes) else str(first)).name


class _GuardedPopen(subprocess.Popen):  # type: ignore[type-arg]
    """``subprocess.Popen`` that refuses to start a container engine's CLI."""

    def __init__(self, args: Any, *rest: Any, **kwargs: Any) -> None:
        if _program(args) in ENGINE_PROGRAMS:
            _refuse("subprocess.Popen")(args)
        super().__init__(args, *rest, **kwargs)


@pytest.fixture(autouse=True)
def _no_engine_outside_engine_tests(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    if request.node.get_closest_marker("engine") is None:
        monkeypatch.setattr(docker, "from_env", _refuse("docker.from_env"))
        monkeypatch.setattr(subprocess, "Popen", _GuardedPopen)
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
