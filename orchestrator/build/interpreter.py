"""The target's interpreter, learned from its base image: ``python_full_version`` and libc.

Markers such as ``python_full_version < "3.11.3"`` decide what a target installs, and a
cp311 target's image may hold 3.11.2 (Debian bookworm) or 3.11.11 (python:3.11-slim). So
a short container run asks the image once; the answer is cached under the image's digest
(``<cache>/interpreters``): the same image always holds the same Python.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from orchestrator.config import TargetConfig
from orchestrator.errors import ConfigError, EngineError
from orchestrator.paths import write_atomically

_PROBE = "import platform; print(platform.python_version()); print(*platform.libc_ver())"
_FORMAT = 1


class RunsImages(Protocol):
    def image_digest(self, image: str, platform: str) -> str: ...

    def run_output(self, image: str, platform: str, command: list[str]) -> str: ...


@dataclass(frozen=True, kw_only=True)
class Interpreter:
    python_full_version: str
    #: ``glibc 2.36``; ``""`` where ``platform.libc_ver()`` knows none (musl).
    libc: str
    #: True when it came from the cache (no container ran).
    cached: bool = False


class InterpreterProbe:
    """Asks each base image for its interpreter, once per image digest."""

    def __init__(self, engine: RunsImages, cache_dir: Path) -> None:
        self._engine = engine
        self._cache_dir = cache_dir

    def __call__(self, tcfg: TargetConfig) -> Interpreter:
        platform = tcfg.target.arch.docker_platform
        digest = self._engine.image_digest(tcfg.base_image, platform)
        path = self._cache_dir / f"{re.sub(r'[^A-Za-z0-9]+', '-', digest)}-{tcfg.python}.json"
        cached = _load(path)
        if cached is not None:
            return cached
        out = self._engine.run_output(tcfg.base_image, platform, [tcfg.python, "-c", _PROBE])
        found = parse_probe(out, tcfg)
        record = {"format": _FORMAT, "python_full_version": found.python_full_version}
        record["libc"] = found.libc
        with contextlib.suppress(OSError):  # asked again next time
            write_atomically(path, json.dumps(record).encode())
        return found


def parse_probe(out: str, tcfg: TargetConfig) -> Interpreter:
    lines = out.strip().splitlines()
    version = lines[0].strip() if lines else ""
    if not re.fullmatch(r"\d+\.\d+\.\d+", version):
        raise EngineError(
            f"{tcfg.base_image}: `{tcfg.python}` did not say its version (it printed {out!r})",
            hint="set targets[].python to the image's interpreter, or "
            "targets[].python_full_version to its version",
        )
    target = tcfg.target
    if not version.startswith(f"{target.python_version}."):
        raise ConfigError(
            f"{target.id}: base image {tcfg.base_image} holds Python {version}, "
            f"not {target.python_version}",
            hint=f"give targets[].base_image an image with Python {target.python_version}, "
            f"or use a cp{version.split('.')[0]}{version.split('.')[1]} target id",
        )
    libc = lines[1].strip() if len(lines) > 1 else ""
    return Interpreter(python_full_version=version, libc=libc)


def _load(path: Path) -> Interpreter | None:
    try:
        data = json.loads(path.read_bytes())
        if data["format"] != _FORMAT:
            return None
        return Interpreter(
            python_full_version=str(data["python_full_version"]),
            libc=str(data["libc"]),
            cached=True,
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def libc_warning(tcfg: TargetConfig, found: Interpreter) -> str | None:
    """A glibc older than the target's manylinux tag says: its wheels would not load."""
    match = re.fullmatch(r"glibc (\d+)\.(\d+)", found.libc)
    target = tcfg.target
    if match is None or target.libc != "manylinux":
        return None
    glibc = (int(match[1]), int(match[2]))
    if glibc >= target.libc_version:
        return None
    return (
        f"{target.id}: {tcfg.base_image} has glibc {glibc[0]}.{glibc[1]}, older than "
        f"{target.platform_tag} says: use the image's glibc in the target id"
    )


Probe = Callable[[TargetConfig], Interpreter]
