"""uv, wheelhouse's one resolver: where its binary is, and how it names a target's platform.

Both of uv's users (``resolve`` for loose requirements, ``build.requires`` for build
requirements) resolve *for the target*: ``--python-platform`` is computed from the
target's libc, its version and its architecture, never from the host.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Collection, Sequence
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from orchestrator.errors import ResolveError
from orchestrator.targets import Target

#: manylinux minors ``uv pip compile --python-platform`` knew when this was written (uv
#: 0.13); used when its ``--help`` cannot be read.
UV_MANYLINUX_MINORS = frozenset({17, *range(28, 41)} - {29, 30})
_FALLBACK_ARCHES = ("x86_64", "aarch64")

#: Runs uv's ``--help``: args -> (exit code, stdout).
HelpRunner = Callable[[Sequence[str]], tuple[int, str]]


def uv_command() -> tuple[str, ...]:
    """uv ships as a wheel dependency: the binary beside this interpreter, else on PATH,
    else ``python -m uv``."""
    beside = Path(sys.executable).with_name("uv")
    if beside.is_file():
        return (str(beside),)
    found = shutil.which("uv")
    return (found,) if found else (sys.executable, "-m", "uv")


def python_platform(target: Target, known: Collection[str]) -> str:
    """The ``--python-platform`` for ``target``: musllinux is ``<arch>-unknown-linux-musl``;
    manylinux the highest ``<arch>-manylinux_2_N`` uv knows with N <= the target's glibc
    minor (so uv never picks a wheel the target's glibc cannot load)."""
    candidate = _candidate(target, known)
    if candidate not in known:
        raise ResolveError(
            f"uv cannot resolve for {target.id}: it has no --python-platform {candidate}",
            hint="see `uv pip compile --help` for the platforms this uv knows; "
            "a newer uv may know more",
        )
    return candidate


def platform_args(target: Target, known: Collection[str]) -> list[str]:
    """How ``uv pip compile`` resolves for ``target``: ``--python-platform`` where uv names
    the target's platform, else ``--universal`` (uv 0.13 names no armv7l platform at all):
    one resolution for every platform, whose markers ``for_target`` then evaluates."""
    candidate = _candidate(target, known)
    return ["--python-platform", candidate] if candidate in known else ["--universal"]


def _candidate(target: Target, known: Collection[str]) -> str:
    arch = target.arch.value
    if target.libc == "musllinux":
        return f"{arch}-unknown-linux-musl"
    return _manylinux(arch, target.libc_version, known) or f"{arch}-unknown-linux-gnu"


def for_target(compiled: str, target: Target) -> str:
    """``uv pip compile`` output with only the lines whose markers hold on ``target``, their
    markers dropped: a universal resolution (``platform_args``) read as the target's own.

    A universal resolution may pin a package twice, for disjoint markers (a fork); the
    target's marker environment keeps exactly one of them. Hash lines stay with their pin."""
    kept: list[str] = []
    for entry in _entries(compiled):
        head, _, options = entry.partition(" --")
        try:
            requirement = Requirement(head.strip())
        except InvalidRequirement:
            # `-e ./app`, `./libs/foo`: the user's own source lines, which wheelhouse
            # prepares from the user's file (plan.sources), not from uv's copy.
            continue
        marker = requirement.marker
        if marker is not None and not marker.evaluate(dict(target.marker_environment)):
            continue
        requirement.marker = None
        kept.append(f"{requirement}" + (f" --{options}" if options else ""))
    return "".join(f"{line}\n" for line in kept)


def _entries(compiled: str) -> list[str]:
    """Logical lines (``\\`` continuations joined), without comments or blank lines."""
    entries: list[str] = []
    pending = ""
    for raw in compiled.splitlines():
        line = raw.split(" #", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
        continued = line.endswith("\\")
        pending += " " + line.rstrip("\\").strip()
        if not continued:
            if pending.strip():
                entries.append(" ".join(pending.split()))
            pending = ""
    if pending.strip():
        entries.append(" ".join(pending.split()))
    return entries


def _manylinux(arch: str, glibc: tuple[int, int], known: Collection[str]) -> str | None:
    if glibc[0] != 2:
        return None
    prefix = f"{arch}-manylinux_2_"
    minors = [int(k[len(prefix) :]) for k in known if _is_minor_of(k, prefix)]
    usable = [m for m in minors if m <= glibc[1]]
    return f"{prefix}{max(usable)}" if usable else None


def _is_minor_of(platform: str, prefix: str) -> bool:
    return platform.startswith(prefix) and platform[len(prefix) :].isdigit()


def known_platforms(help_text: str) -> frozenset[str]:
    """The ``--python-platform`` values ``uv pip compile --help`` lists; the built-in list
    when the text names no Linux platform (an old or unreadable uv)."""
    found = _from_help(help_text)
    return found if any("linux" in k for k in found) else fallback_platforms()


def run_help(args: Sequence[str]) -> tuple[int, str]:
    """The default ``HelpRunner``: a uv that cannot be run has no help (code 127)."""
    try:
        done = subprocess.run(list(args), capture_output=True, text=True, check=False)
    except OSError:
        return 127, ""
    return done.returncode, done.stdout


def uv_version(command: Sequence[str], run: HelpRunner = run_help) -> str:
    """``uv --version`` (``uv 0.13.9``): recorded resolutions are keyed by it, as another uv
    may resolve otherwise. A uv that cannot tell is ``uv (version unknown)``."""
    code, out = run([*command, "--version"])
    return out.strip() if code == 0 and out.strip() else "uv (version unknown)"


def known_platforms_of(command: Sequence[str], run: HelpRunner = run_help) -> frozenset[str]:
    """Ask ``command`` (uv) which platforms it knows."""
    code, out = run([*command, "pip", "compile", "--help"])
    return known_platforms(out if code == 0 else "")


def _from_help(help_text: str) -> frozenset[str]:
    """The ``[possible values: ...]`` of ``--python-platform``, however clap wrapped them."""
    text = " ".join(help_text.split())
    start = text.find("--python-platform <")
    if start < 0:
        return frozenset()
    section = text[start:].split(" --", 1)[0]
    match = re.search(r"\[possible values: ([^\]]*)\]", section)
    if match is None:
        return frozenset()
    return frozenset(v.strip() for v in match.group(1).split(",") if v.strip())


def fallback_platforms() -> frozenset[str]:
    names = {f"{a}-unknown-linux-{c}" for a in _FALLBACK_ARCHES for c in ("gnu", "musl")}
    names |= {f"{a}-manylinux_2_{m}" for a in _FALLBACK_ARCHES for m in UV_MANYLINUX_MINORS}
    return frozenset(names)
