"""Resolve loose requirements for one target with uv (``uv pip compile``).

wheelhouse has no resolver of its own: uv resolves for the target's platform and
Python version, and its pinned output is read back by our requirements parser.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from orchestrator.errors import ResolveError
from orchestrator.pypi.uv import (
    for_target,
    known_platforms_of,
    platform_args,
    uv_command,
)
from orchestrator.targets import Target
from orchestrator.urls import mask_userinfo

Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


@dataclass(frozen=True, kw_only=True)
class UvResolver:
    """Runs ``uv pip compile`` for a target and returns the pinned requirements text."""

    index_url: str
    extra_index_urls: tuple[str, ...] = ()
    #: ``--find-links`` folders (absolute: uv takes a relative one from its working
    #: directory once the requirements are not the user's own file) and pages.
    find_links: tuple[str, ...] = ()
    run: Runner | None = None

    @cached_property
    def known_platforms(self) -> frozenset[str]:
        run = self.run or _run
        return known_platforms_of(uv_command(), lambda args: _code_and_out(run(args)))

    def compile(
        self,
        requirements: Path,
        target: Target,
        *,
        constraints: Path | None = None,
        hashes: bool = False,
    ) -> str:
        """``requirements`` pinned for ``target`` (with ``constraints``; hash-pinned with
        ``hashes``); the target's full Python version when known (3.11.2 is not 3.11.0).
        A target uv names no platform for (armv7l) is resolved universally, then read for
        the target (``pypi.uv.for_target``)."""
        cmd = [
            *uv_command(),
            "pip",
            "compile",
            str(requirements.resolve()),
            *platform_args(target, self.known_platforms),
            "--python-version",
            target.python_full_version
            if target.python_micro is not None
            else target.python_version,
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
        for where in self.find_links:
            cmd += ["--find-links", where]
        if constraints is not None:
            cmd += ["--constraint", str(constraints)]
        # Relative paths (`./libs/foo`, `-e .`) from the file's folder, as wheelhouse takes
        # them: uv, like pip, would take them from the working directory.
        cmd += ["--directory", str(requirements.resolve().parent)]
        if hashes:
            cmd.append("--generate-hashes")
        result = (self.run or _run)(cmd)
        if result.returncode != 0:
            raise ResolveError(
                f"uv could not resolve {requirements} for {target.id}:\n"
                + mask_userinfo(result.stderr.strip()),
                hint="loosen or fix the conflicting requirements, or pin them for this target",
            )
        return for_target(result.stdout, target)

    def fix_command(self, target: Target, requirements: Path) -> str:
        """The command that pins ``requirements`` for ``target`` (for error messages)."""
        platform = " ".join(platform_args(target, self.known_platforms))
        return (
            f"uv pip compile {platform} --python-version "
            f"{target.python_full_version} --generate-hashes requirements.in -o {requirements}"
        )


def _code_and_out(result: subprocess.CompletedProcess[str]) -> tuple[int, str]:
    return result.returncode, result.stdout


def _run(cmd: Sequence[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "UV_NO_PROGRESS": "1"}
    try:
        return subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    except FileNotFoundError:
        raise ResolveError(
            "uv is not installed, and loose requirements need it to be resolved per target",
            hint="pip install uv (it is a dependency of wheelhouse), or pin every requirement",
        ) from None
