"""Resolve loose requirements for one target with uv (``uv pip compile``).

wheelhouse has no resolver of its own: uv resolves for the target's platform and
Python version, and its pinned output is read back by our requirements parser.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from orchestrator.errors import ResolveError
from orchestrator.targets import Target

# glibc minors that uv accepts as `<arch>-manylinux_2_<minor>` (see `uv pip compile --help`).
_UV_MANYLINUX_MINORS = (17, *range(28, 41))

Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


def uv_python_platform(target: Target) -> str:
    """The ``--python-platform`` value uv knows for ``target``."""
    arch = target.arch.value
    if target.libc == "musllinux":
        return f"{arch}-unknown-linux-musl"
    minor = target.libc_version[1]
    known = [m for m in _UV_MANYLINUX_MINORS if m <= minor]
    if arch in ("x86_64", "aarch64") and known:
        return f"{arch}-manylinux_2_{max(known)}"
    return f"{arch}-unknown-linux-gnu" if arch != "armv7l" else "linux"


def uv_command() -> list[str]:
    """uv ships as a wheel dependency: prefer the binary beside this interpreter."""
    beside = Path(sys.executable).with_name("uv")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("uv")
    return [found] if found else [sys.executable, "-m", "uv"]


@dataclass(frozen=True, kw_only=True)
class UvResolver:
    """Runs ``uv pip compile`` for a target and returns the pinned requirements text."""

    index_url: str
    extra_index_urls: tuple[str, ...] = ()
    run: Runner | None = None

    def compile(self, requirements: Path, target: Target) -> str:
        cmd = [
            *uv_command(),
            "pip",
            "compile",
            str(requirements),
            "--python-platform",
            uv_python_platform(target),
            "--python-version",
            target.python_version,
            "--no-header",
            "--no-annotate",
            "--quiet",
            # Resolving for 3.12 needs no 3.12 interpreter: without this uv downloads one
            # (or, offline, spends ~10 s failing to) before it falls back to any Python.
            "--no-python-downloads",
            "--index-url",
            self.index_url,
        ]
        for url in self.extra_index_urls:
            cmd += ["--extra-index-url", url]
        result = (self.run or _run)(cmd)
        if result.returncode != 0:
            raise ResolveError(
                f"uv could not resolve {requirements} for {target.id}:\n{result.stderr.strip()}",
                hint="loosen or fix the conflicting requirements, or pin them for this target",
            )
        return result.stdout


def _run(cmd: Sequence[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "UV_NO_PROGRESS": "1"}
    try:
        return subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    except FileNotFoundError:
        raise ResolveError(
            "uv is not installed, and loose requirements need it to be resolved per target",
            hint="pip install uv (it is a dependency of wheelhouse), or pin every requirement",
        ) from None
