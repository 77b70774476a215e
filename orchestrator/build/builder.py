"""The builder: a ``TargetPlan`` in, a ``TargetBuild`` out.

Downloads go to the content-addressed store; each build is keyed and looked up in
the build cache; whatever is missing is built in ONE ``docker buildx build`` per
target (BuildKit runs the package stages in parallel), offline, and each package's
outcome is read from the exported directory. Docker, the network, the resolver and
the clock are passed in; progress goes to a callback, never to stdout.

A build requirement with no wheel for the target is built first, from its sdist: the
builds form a graph (``graph``), run one level per buildx run, each level's wheels
handed to the next. A backend that asks for more than ``build-system.requires`` gets it
resolved for the target, and its package built again in a later level. A failed build
carries what its log suggests is missing (``hints``).

A package for a foreign architecture is cross-compiled first where that is safe
(``plan.modes``: Debian glibc and musl stand-in targets, ``auto``): its stages run on the
build machine in the same buildx run, and its wheel is checked on the target (``wheelcheck``)
before it is stored. A cross build that fails, or whose wheel fails the check, is built again under
QEMU in a second run of the level, and its artifact says why (``fallback_reason``).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from packaging.utils import (
    NormalizedName,
)

from orchestrator.build.cache import BuildCache, CacheKeyInputs
from orchestrator.build.context import (
    BACKEND_ATTEMPTS,
    BACKEND_REQUIRES_PREFIX,
    BUILDX_LOG,
    BuildContext,
    CrossInputs,
    Downloader,
    Outcome,
    Prepared,
    Resolve,
    VendorCrates,
    artifacts_of,
    emit,
    file_request,
    make_failure,
    target_of,
    utc_now,
)
from orchestrator.build.crates import CrateError, CrateVendor, cargo_lock_dirs
from orchestrator.build.cross import target_cross_packages
from orchestrator.build.dockerfile import (
    cross_digest,
    templates_digest,
    toolchain_packages,
)
from orchestrator.build.engine import Engine
from orchestrator.build.graph import BuildCycle, levels
from orchestrator.build.hints import Hint, suggest
from orchestrator.build.progress import Progress, no_progress
from orchestrator.build.recipe import recipe_digest
from orchestrator.build.requires import (
    TOOL_REQUIREMENTS,
    SdistError,
    read_build_requires,
    uses_rust,
)
from orchestrator.build.run import run_builds
from orchestrator.build.secrets import NO_SECRETS, BuildSecrets
from orchestrator.config import Recipe, TargetConfig
from orchestrator.errors import EngineError
from orchestrator.knowledge import Knowledge, load_knowledge
from orchestrator.model import Artifact, BuildFailure, PackagePlan, TargetBuild, TargetPlan
from orchestrator.plan.modes import RUST, BuildModes, ModeChoice, known_cross_problem
from orchestrator.pypi.downloads import StoredFile
from orchestrator.targets import Target


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
    progress: Progress = no_progress,
    clock: Callable[[], float] = time.monotonic,
    now: Callable[[], datetime] = utc_now,
    knowledge: Knowledge | None = None,
    crates: VendorCrates | None = None,
    modes: BuildModes | None = None,
    no_import: frozenset[NormalizedName] = frozenset(),
    recipes: Mapping[NormalizedName, Recipe] | None = None,
    secrets: BuildSecrets = NO_SECRETS,
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
        recipes=recipes or {},
        secrets=secrets,
    )
    return build_with(plan, tcfg, ctx)


def build_with(plan: TargetPlan, tcfg: TargetConfig, ctx: BuildContext) -> TargetBuild:
    """``build_target`` with its arguments gathered in a ``BuildContext``."""
    if plan.target != tcfg.target:
        raise ValueError(f"plan for {plan.target.id} handed the config of {tcfg.target.id}")
    outcome = Outcome(artifacts=_download_wheels(plan, ctx))
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


def _download_wheels(plan: TargetPlan, ctx: BuildContext) -> list[Artifact]:
    wanted = plan.by_action("download")
    if not wanted:
        return []
    emit(ctx, plan.target, "download", message=f"{len(wanted)} wheel(s) from the index")
    stored = ctx.downloader.fetch_all(file_request(p) for p in wanted)
    return [
        Artifact(
            name=p.name,
            version=p.version,
            path=f.path,
            sha256=f.sha256,
            origin="pypi",
            source=p.source,
        )
        for p, f in zip(wanted, stored, strict=True)
    ]


def _build_packages(
    plan: TargetPlan,
    tcfg: TargetConfig,
    builds: tuple[PackagePlan, ...],
    ctx: BuildContext,
    outcome: Outcome,
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
        emit(ctx, plan.target, "nothing-to-build", message=_nothing_message(hits))


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
        self, tcfg: TargetConfig, digest: str, ctx: BuildContext, outcome: Outcome
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
        (sdist,) = self.ctx.downloader.fetch_all([file_request(package)])
        node = self.nodes[key] = _Node(package=package, sdist=sdist, wanted=wanted)
        emit(self.ctx, self.target, "resolve", package.name, "build requirements")
        try:
            node.learned = self.ctx.cache.learned_requires(sdist.sha256, self.target.id)
            node.requires = _unique((*read_build_requires(sdist.path), *node.learned))
            node.rust = uses_rust(node.requires) or bool(cargo_lock_dirs(sdist.path))
        except SdistError as exc:
            self.fail(node, make_failure(package, exc.message))
            return key
        self.resolve(node)
        return key

    def resolve(self, node: _Node) -> None:
        resolved = self.ctx.resolve(node.requires, self.target)
        if resolved.problem is not None:
            self.fail(node, make_failure(node.package, resolved.problem))
            return
        node.wheels = tuple(self.ctx.downloader.fetch_all(file_request(w) for w in resolved.wheels))
        node.needs = frozenset(self.add(b, wanted=False) for b in resolved.builds)

    def fail(self, node: _Node, failure: BuildFailure, *, announce: bool = True) -> None:
        node.failure = failure
        if announce:
            emit(self.ctx, self.target, "package-failed", node.package.name, failure.reason)

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
                    self.fail(node, make_failure(node.package, str(cycle)))
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
        found = Outcome()
        missing: list[Prepared] = []
        for node in batch:
            prepared = self._with_mode(node, self._prepared(node, toolchain), toolchain)
            if prepared is None:
                continue
            if not _from_cache(prepared, self.ctx, found):
                with_crates = self._with_crates(node, prepared)
                missing += [with_crates] if with_crates is not None else []
        if missing:
            self.ran = True
            run_builds(self.tcfg, missing, toolchain, self.ctx, found)
            self.outcome.seconds += found.seconds
        self._absorb({n.package.name: n for n in batch}, found)

    def _prepared(self, node: _Node, toolchain: tuple[str, ...]) -> Prepared:
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
            recipe_sha256=recipe_digest(self.ctx.recipe(node.package.name), self.target),
            system_libraries=self.ctx.knowledge.system_libraries(node.package.name),
        )
        return Prepared(package=node.package, sdist=node.sdist, deps=deps, inputs=inputs)

    # --- cross or emulated

    def _with_mode(
        self, node: _Node, prepared: Prepared, toolchain: tuple[str, ...]
    ) -> Prepared | None:
        """How ``node`` is built, with a cross build's inputs; ``None`` (and a failure) when
        ``cross`` is forced where it cannot work."""
        choice = self.ctx.modes.choose(node.package.name, self.tcfg)
        if choice.impossible is not None:
            self.fail(node, make_failure(node.package, choice.impossible))
            return None
        if choice.mode != "cross":
            if choice.mode == "emulate":
                emit(self.ctx, self.target, "mode", node.package.name, choice.reason)
            inputs = replace(prepared.inputs, build_mode=choice.mode)
            return replace(prepared, choice=choice, mode=choice.mode, inputs=inputs)
        problem = self._cross_problem(node, auto=choice.fallback)
        cross = self._cross_inputs(node, toolchain) if problem is None else problem
        if isinstance(cross, CrossInputs):
            return replace(prepared, choice=choice, mode="cross", cross=cross)
        if choice.fallback:
            emit(self.ctx, self.target, "mode", node.package.name, cross)
            return replace(prepared, choice=ModeChoice(mode="emulate", reason=cross))
        self.fail(node, make_failure(node.package, f"{choice.reason}, but {cross}"))
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

    def _cross_inputs(self, node: _Node, toolchain: tuple[str, ...]) -> CrossInputs | str:
        """Build requirements for the build machine (they run there) and the cross key."""
        build = replace(self.target, arch=self.ctx.modes.build_arch)
        emit(self.ctx, self.target, "resolve", node.package.name, f"cross: for {build.id}")
        resolved = self.ctx.resolve(node.requires, build).without_builds(build)
        if resolved.problem is not None:
            return f"its build requirements cannot be had for the build machine: {resolved.problem}"
        try:
            image_digest = self.cross_image_digest()
        except EngineError as exc:
            return f"the cross image {self.tcfg.cross_base_image} is unavailable: {exc.message}"
        deps = tuple(self.ctx.downloader.fetch_all(file_request(w) for w in resolved.wheels))
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
            recipe_sha256=recipe_digest(self.ctx.recipe(node.package.name), self.target),
            system_libraries=self.ctx.knowledge.system_libraries(node.package.name),
        )
        return CrossInputs(deps=deps, inputs=inputs)

    def cross_image_digest(self) -> str:
        """The cross image's digest; empty when it is the (multi-platform) base image."""
        image = self.tcfg.cross_base_image
        if image == self.tcfg.base_image:
            return ""
        if self._cross_image_digest is None:
            platform = self.ctx.modes.build_arch.docker_platform
            self._cross_image_digest = self.ctx.engine.image_digest(image, platform)
        return self._cross_image_digest

    def _with_crates(self, node: _Node, prepared: Prepared) -> Prepared | None:
        """Vendor a Rust sdist's crates on the host (once); ``None`` when they cannot be had."""
        if node.rust and node.crates is None:
            dest = self.crates_dir / node.sdist.sha256
            name, version = node.package.name, node.package.version
            try:
                node.crates = self.ctx.crates(
                    node.sdist.path, dest, name=name, version=version, target=self.target.id
                )
            except CrateError as exc:
                self.fail(node, make_failure(node.package, str(exc)))
                return None
        return replace(prepared, crates=node.crates)

    def _absorb(self, batch: dict[NormalizedName, _Node], found: Outcome) -> None:
        for artifact in found.artifacts:
            node = batch[artifact.name]
            node.built += (StoredFile(path=artifact.path, sha256=artifact.sha256),)
            if node.wanted:
                self.outcome.artifacts.append(artifact)
        for failure in found.failures:
            node = batch[failure.name]
            if not self._give_backend_what_it_asked(node, failure):
                self.fail(node, self._with_hint(failure), announce=False)  # collect_results did

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
        emit(self.ctx, self.target, "resolve", node.package.name, message)
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
            cross=failure.log_path.name.endswith(".cross.log"),
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


def _cache_keys(prepared: Prepared) -> list[CacheKeyInputs]:
    """Where a wheel of ``prepared`` may be cached: a cross build's entry, or (``auto``) a
    QEMU build's from an earlier fallback or ``emulate`` run; the mode's own otherwise."""
    if prepared.cross is None:
        return [prepared.inputs]
    if prepared.choice.fallback:
        return [prepared.cross.inputs, prepared.inputs]
    return [prepared.cross.inputs]


def _from_cache(prepared: Prepared, ctx: BuildContext, outcome: Outcome) -> bool:
    if ctx.force:
        return False
    hits = (ctx.cache.lookup(inputs.key) for inputs in _cache_keys(prepared))
    hit = next((h for h in hits if h is not None), None)
    if hit is None:
        return False
    outcome.artifacts += artifacts_of(prepared, hit, cached=True)
    emit(ctx, target_of(prepared), "cached", prepared.name, hit.meta.wheels[0])
    return True
