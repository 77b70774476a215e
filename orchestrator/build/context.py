"""What every part of a target's build shares: the outside world handed in
(``BuildContext``), a package's prepared inputs, its artifacts, failures and logs."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from packaging.utils import (
    NormalizedName,
)

from orchestrator.build.cache import BuildCache, CachedBuild, CacheKeyInputs
from orchestrator.build.canonical import ZIP_EPOCH, CanonicalError, sdist_epoch
from orchestrator.build.crates import CrateVendor
from orchestrator.build.engine import BuildxResult, Engine
from orchestrator.build.progress import Progress, ProgressEvent, ProgressKind, no_progress
from orchestrator.build.requires import (
    ResolvedWheels,
)
from orchestrator.build.secrets import NO_SECRETS, BuildSecrets
from orchestrator.config import Recipe
from orchestrator.knowledge import Knowledge, load_knowledge
from orchestrator.model import Artifact, BuildFailure, PackagePlan
from orchestrator.paths import CACHE_SETTING, space_checked
from orchestrator.plan.modes import BuildModes, Mode, ModeChoice
from orchestrator.pypi.downloads import FileRequest, StoredFile, sha256_of
from orchestrator.targets import Target

#: Lines of a build log a failure report carries.
LOG_TAIL_LINES = 25


#: A failed buildx run's output, beside the packages' logs.
BUILDX_LOG = "buildx.log"


#: How build-wheel.sh reports each requirement the build backend asked for.
BACKEND_REQUIRES_PREFIX = "wheelhouse: backend requires: "


#: Attempts of one package with what its backend asked for (it tells all of it at once).
BACKEND_ATTEMPTS = 2


EXPORT_STAGE = "export"


#: Resolves requirement strings to target wheels (``build.requires.resolve_wheels`` with its
#: compiler and index client bound).
Resolve = Callable[[Sequence[str], Target], ResolvedWheels]


class VendorCrates(Protocol):
    """``crates.CrateVendor``: ``dest/.cargo`` for a Rust sdist, ``None`` without Rust."""

    def __call__(
        self, sdist: Path, dest: Path, *, name: str, version: str, target: str
    ) -> Path | None: ...


class Downloader(Protocol):
    def fetch_all(self, requests: Iterable[FileRequest]) -> list[StoredFile]: ...


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, kw_only=True)
class BuildContext:
    """Everything ``build_target`` is handed besides the plan: the outside world and knobs."""

    engine: Engine
    downloader: Downloader
    cache: BuildCache
    resolve: Resolve
    workdir: Path
    log_dir: Path
    timeout: int = 1800
    #: Seconds for the whole buildx run; default: per-package limit x packages + 1 h.
    overall_timeout: float | None = None
    force: bool = False
    keep_context: bool = False
    progress: Progress = no_progress
    clock: Callable[[], float] = time.monotonic
    now: Callable[[], datetime] = utc_now
    #: What builds need (the Rust toolchain) and what failed logs point at; wheelhouse.yaml
    #: ``packages:`` applied (``Session.knowledge``).
    knowledge: Knowledge = field(default_factory=load_knowledge)
    crates: VendorCrates = field(default_factory=CrateVendor)
    #: Which packages are cross-compiled and which emulated (default: ``auto`` everywhere).
    modes: BuildModes = field(default_factory=BuildModes)
    #: Packages whose cross-built wheel is not imported by the target check
    #: (``verify_import: false``: modules that refuse to import off their hardware).
    no_import: frozenset[NormalizedName] = frozenset()
    #: wheelhouse.yaml ``packages.<name>`` recipes (env, config settings, patches ...).
    recipes: Mapping[NormalizedName, Recipe] = field(default_factory=dict)
    #: ``build.secret_env``: mounted into every package stage, redacted from its logs.
    secrets: BuildSecrets = NO_SECRETS

    def recipe(self, name: NormalizedName) -> Recipe:
        return self.recipes.get(name, NO_RECIPE)


NO_RECIPE = Recipe()


#: What a package is before a mode is chosen for it: built the way the target runs.
EMULATE = ModeChoice(mode="emulate")


@dataclass(frozen=True, kw_only=True)
class CrossInputs:
    """A cross build's own inputs: build requirements for the build machine, and its key."""

    deps: tuple[StoredFile, ...]
    inputs: CacheKeyInputs


@dataclass(frozen=True, kw_only=True)
class Prepared:
    """A build package with its inputs on the host and its cache key."""

    package: PackagePlan
    sdist: StoredFile
    deps: tuple[StoredFile, ...]
    inputs: CacheKeyInputs
    #: ``.cargo`` (vendored crates + config) for ``deps/<name>/.cargo``, for Rust sdists.
    crates: Path | None = None
    #: How it is built (``mode``), as chosen; a cross build's inputs; and, once a cross
    #: build failed and it is built under QEMU instead, why.
    choice: ModeChoice = EMULATE
    mode: Mode = "emulate"
    cross: CrossInputs | None = None
    fallback_reason: str | None = None

    @property
    def name(self) -> NormalizedName:
        return self.package.name


@dataclass(kw_only=True)
class Outcome:
    artifacts: list[Artifact] = field(default_factory=list)
    failures: list[BuildFailure] = field(default_factory=list)
    seconds: float = 0.0


def build_epoch(prepared: Prepared) -> int:
    """``SOURCE_DATE_EPOCH`` of its build; 1980 for an sdist that cannot be read (its
    build then fails to unpack it, and says so)."""
    try:
        return sdist_epoch(prepared.sdist.path)
    except CanonicalError:
        return ZIP_EPOCH


def file_request(package: PackagePlan) -> FileRequest:
    assert package.file is not None and package.url is not None, package
    return FileRequest(filename=package.file, url=package.url, sha256=package.sha256)


def artifacts_of(prepared: Prepared, entry: CachedBuild, *, cached: bool) -> list[Artifact]:
    return [
        Artifact(
            name=prepared.name,
            version=prepared.package.version,
            path=wheel,
            sha256=sha256_of(wheel),
            origin="built",
            sdist_sha256=entry.meta.sdist_sha256,
            base_image_digest=entry.meta.base_image_digest,
            build_seconds=entry.meta.build_seconds,
            cached=cached,
            build_mode=mode_name(entry.meta.build_mode),
            fallback_reason=entry.meta.fallback_reason,
            check_seconds=entry.meta.check_seconds,
            source=prepared.package.source,
            commit=prepared.package.commit,
            repository=prepared.package.repository,
        )
        for wheel in entry.wheels
    ]


def mode_name(text: str) -> Mode:
    modes: tuple[Mode, ...] = ("native", "cross", "emulate")
    return next((m for m in modes if m == text), "emulate")


def target_of(prepared: Prepared) -> str:
    return prepared.inputs.target_id


def make_failure(
    package: PackagePlan, reason: str, log: str = "", log_path: Path | None = None
) -> BuildFailure:
    return BuildFailure(
        name=package.name,
        version=package.version,
        reason=reason,
        log_tail=tail(log),
        log_path=log_path,
    )


def tail(text: str, lines: int = LOG_TAIL_LINES) -> str:
    return "\n".join(text.splitlines()[-lines:])


def save_log(target: Target, package: PackagePlan, log: str, ctx: BuildContext) -> Path:
    """``<log_dir>/<target>/<name>-<version>.log`` (the last build's log of that package)."""
    path = ctx.log_dir / target.id / f"{package.name}-{package.version}.log"
    return _write_log(path, ctx.secrets.redact(log), ctx)


def save_buildx_log(target: Target, result: BuildxResult, ctx: BuildContext) -> Path:
    text = ctx.secrets.redact("\n".join(result.tail) + "\n")
    return _write_log(ctx.log_dir / target.id / BUILDX_LOG, text, ctx)


def _write_log(path: Path, text: str, ctx: BuildContext) -> Path:
    """A log in the cache's log folder; a full disk there is the project's error (exit 10)."""
    with space_checked(ctx.log_dir, f"saving the log {path.name}", setting=CACHE_SETTING):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return path


def emit(  # noqa: PLR0917
    ctx: BuildContext,
    target: Target | str,
    kind: ProgressKind,
    package: NormalizedName | None = None,
    message: str = "",
    seconds: float | None = None,
) -> None:
    target_id = target if isinstance(target, str) else target.id
    ctx.progress(
        ProgressEvent(
            target=target_id, kind=kind, package=package, message=message, seconds=seconds
        )
    )
