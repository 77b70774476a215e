"""``wheelhouse build`` and ``wheelhouse verify``: plan -> build -> collect -> verify.

Wires the real engine, index and downloader into the builder, collector and verifier,
one target after another. Returns frozen results; the CLI prints and picks exit codes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from orchestrator.build.builder import build_target
from orchestrator.build.cache import BuildCache
from orchestrator.build.engine import DockerEngine
from orchestrator.build.interpreter import InterpreterProbe, libc_warning
from orchestrator.build.progress import ProgressEvent
from orchestrator.build.recipe import expand
from orchestrator.build.reproduce import Reproduction, check_reproducible
from orchestrator.build.requires import ResolvedWheels, UvCompiler, resolve_wheels
from orchestrator.build.resolutions import (
    RememberedResolver,
    ResolutionRecords,
    ResolverSettings,
    resolver_description,
)
from orchestrator.build.secrets import BuildSecrets, secrets_from_environment
from orchestrator.config import BuildMode, TargetConfig
from orchestrator.errors import (
    BuildFailedError,
    NotReproducibleError,
    PlanError,
    VerifyFailedError,
    WheelhouseError,
)
from orchestrator.knowledge import Knowledge
from orchestrator.model import BuildFailure, Pin, Plan, TargetBuild, TargetPlan
from orchestrator.plan.closure import check_closure
from orchestrator.plan.modes import BuildModes
from orchestrator.pypi.downloads import Downloader, FileStore
from orchestrator.pypi.index import IndexConfig
from orchestrator.pypi.metadata import MetadataError, parse_metadata
from orchestrator.pypi.uv import uv_version
from orchestrator.runlock import build_lock
from orchestrator.session import Session
from orchestrator.targets import Target
from orchestrator.wheelhouse.collect import WheelhouseResult, collect_wheelhouse
from orchestrator.wheelhouse.report import VerifyReport
from orchestrator.wheelhouse.verify import verify_wheelhouse


@dataclass(frozen=True, kw_only=True)
class BuildOptions:
    builder: str | None = None
    verify: bool = False
    partial: bool = False
    keep_context: bool = False
    timeout: int | None = None
    #: ``--mode``: the build mode of every package (over wheelhouse.yaml's), and
    #: ``--emulate``: packages built under QEMU whatever else says.
    mode: BuildMode | None = None
    emulate: tuple[str, ...] = ()
    #: ``--check-reproducible``: build every built package again from scratch, compare.
    check_reproducible: bool = False


@dataclass(frozen=True, kw_only=True)
class BuildRun:
    plan: Plan
    builds: tuple[TargetBuild, ...]
    wheelhouses: dict[str, WheelhouseResult]
    #: Targets whose wheelhouse was left as it was, and why.
    unpublished: dict[str, str]
    verified: tuple[VerifyReport, ...] = ()
    reproductions: tuple[Reproduction, ...] = ()

    def problem(self) -> WheelhouseError | None:
        """The first thing that went wrong, as the error whose exit code CI sees."""
        unplanned = [t.target.id for t in self.plan.targets if t.error]
        if unplanned:
            return PlanError(
                f"{len(unplanned)} target(s) could not be planned: {', '.join(unplanned)} "
                "(the others were built; see the plan)"
            )
        if self.plan.has_errors:
            return PlanError("some packages can be neither downloaded nor built (see the plan)")
        failed = [f"{b.target.id}: {f.name}" for b in self.builds for f in b.failures]
        if failed:
            return BuildFailedError(f"{len(failed)} build(s) failed: {', '.join(failed)}")
        bad = [r.target.id for r in self.verified if not r.ok]
        if bad:
            return VerifyFailedError(f"verify failed for {', '.join(bad)}")
        differ = [f"{r.target}: {r.name}" for r in self.reproductions if not r.identical]
        if differ:
            return NotReproducibleError(
                f"{len(differ)} package(s) not reproducible: {', '.join(differ)}",
                hint="the first differing member of each is in the report above; the second "
                "build's wheels are kept beside its logs",
            )
        return None


Say = Callable[[str], None]
OnEvent = Callable[[ProgressEvent], None]


def run_build(session: Session, options: BuildOptions, say: Say, on_event: OnEvent) -> BuildRun:
    # Before anything else: a secret that is not set fails now, not after the downloads.
    secrets = secrets_from_environment(session.config.secret_env, os.environ, session.config.path)
    engine = DockerEngine(builder=options.builder or session.config.builder)
    engine.ping()
    with build_lock(session.cache_dir, say):  # one build per cache at a time (runlock.py)
        return _run_build(session, engine, options, say, on_event, secrets)


def _run_build(  # noqa: PLR0917
    session: Session,
    engine: DockerEngine,
    options: BuildOptions,
    say: Say,
    on_event: OnEvent,
    secrets: BuildSecrets,
) -> BuildRun:
    session = session.with_interpreters(_interpreter_of(engine, session.cache_dir, say))
    # Cross stages run on the builder's native platform, which need not be this machine's.
    modes = session.build_modes(
        build_arch=engine.build_arch(), override=options.mode, emulate=options.emulate
    )
    plan, index = session.plan_with_index(modes)
    builds: list[TargetBuild] = []
    wheelhouses: dict[str, WheelhouseResult] = {}
    unpublished: dict[str, str] = {}
    reports: list[VerifyReport] = []
    reproductions: list[Reproduction] = []
    no_import = frozenset(n for n, p in session.config.packages.items() if not p.verify_import)
    with (
        Downloader.for_cache(session.cache_dir) as downloader,
        _work_dir(session.cache_dir) as work,
    ):
        resolve = _build_requirements_resolver(session, index, downloader.store)
        for tp in plan.targets:
            if tp.error is not None:
                unpublished[tp.target.id] = f"not planned: {tp.error.splitlines()[0]}"
                say(f"[{tp.target.id}] not planned, wheelhouse left as it was: {tp.error}")
                continue
            tcfg = session.target_config(tp.target)
            say(f"[{tp.target.id}] {_counts(tp)}; building in {tcfg.base_image}")

            run = _TargetBuilder(
                session=session,
                tcfg=tcfg,
                engine=engine,
                downloader=downloader,
                resolve=resolve,
                options=options,
                on_event=on_event,
                no_import=no_import,
                secrets=secrets,
            )
            cache = BuildCache.for_cache(session.cache_dir)
            build = run(tp, cache, Path(work), modes)
            build = _with_built_closure(tp, build)
            build = _with_build_recipes(tp, build)
            build = _with_runtime_needs(tcfg, session.knowledge, build)
            builds.append(build)
            _say_reused(session, tp.target, resolve, say)
            _publish(
                session,
                tp,
                build,
                partial=options.partial,
                wheelhouses=wheelhouses,
                unpublished=unpublished,
                say=say,
                verify=_verifier(session, engine, say, reports) if options.verify else None,
            )
            if options.check_reproducible:
                rebuild_logs = session.cache_dir / "logs" / "rebuild"
                say(f"[{tp.target.id}] building each built package again, from scratch")
                reproductions += check_reproducible(
                    tp,
                    build,
                    partial(run, logs=rebuild_logs, force=True),
                    modes=modes,
                    cache=cache,
                    scratch=Path(work),
                    keep=rebuild_logs / tp.target.id,
                )
    verified = tuple(reports)
    return BuildRun(
        plan=plan,
        builds=tuple(builds),
        wheelhouses=wheelhouses,
        unpublished=unpublished,
        verified=verified,
        reproductions=tuple(reproductions),
    )


@dataclass(frozen=True, kw_only=True)
class _TargetBuilder:
    """``build_target`` for one target with the run's engine, downloads and options bound:
    the build, and ``--check-reproducible``'s second one (another cache, forced)."""

    session: Session
    tcfg: TargetConfig
    engine: DockerEngine
    downloader: Downloader
    resolve: RememberedResolver
    options: BuildOptions
    on_event: OnEvent
    no_import: frozenset[NormalizedName]
    secrets: BuildSecrets

    def __call__(
        self,
        plan: TargetPlan,
        cache: BuildCache,
        workdir: Path,
        modes: BuildModes,
        *,
        logs: Path | None = None,
        force: bool = False,
    ) -> TargetBuild:
        return build_target(
            plan,
            self.tcfg,
            engine=self.engine,
            downloader=self.downloader,
            cache=cache,
            resolve=self.resolve,
            workdir=workdir,
            log_dir=logs or self.session.cache_dir / "logs",
            timeout=self.options.timeout or self.session.config.build_timeout,
            force=force,
            keep_context=self.options.keep_context,
            progress=self.on_event,
            knowledge=self.session.knowledge,
            modes=modes,
            no_import=self.no_import,
            recipes=self.session.recipes,
            secrets=self.secrets,
        )


def _interpreter_of(
    engine: DockerEngine, cache_dir: Path, say: Say
) -> Callable[[TargetConfig], str]:
    """Each base image's Python version (markers need 3.11.2, not 3.11.0), said once."""
    probe = InterpreterProbe(engine, cache_dir / "interpreters")

    def full_version(tcfg: TargetConfig) -> str:
        found = probe(tcfg)
        how = "cached by image digest" if found.cached else "asked the image"
        libc = f", {found.libc}" if found.libc else ""
        where = f"{libc} in {tcfg.base_image} ({how})"
        say(f"[{tcfg.target.id}] Python {found.python_full_version}{where}")
        warning = libc_warning(tcfg, found)
        if warning is not None:
            say(f"warning: {warning}")
        return found.python_full_version

    return full_version


def run_verify(session: Session, say: Say) -> tuple[VerifyReport, ...]:
    engine = DockerEngine(builder=session.config.builder)
    engine.ping()
    return tuple(
        verify_one(session, session.config.output / tc.target.id, tc, engine, say)
        for tc in session.targets
    )


def verify_one(
    session: Session, path: Path, tcfg: TargetConfig, engine: DockerEngine, say: Say
) -> VerifyReport:
    skip = [name for name, pkg in session.config.packages.items() if not pkg.verify_import]
    return verify_wheelhouse(
        path,
        tcfg,
        docker_client=engine.client,
        progress=say,
        skip_imports=skip,
        recipes=session.recipes,
        image=engine.platform_ref(tcfg.runtime_image, tcfg.target.arch.docker_platform),
        images=engine,
    )


def _with_build_recipes(tp: TargetPlan, build: TargetBuild) -> TargetBuild:
    """Each built wheel with the recipe it was built with, for its manifest entry."""
    recipes = {p.name: p.recipe for p in tp.packages if p.recipe is not None}
    if not any(r.builds_differently for r in recipes.values()):
        return build
    artifacts = tuple(
        replace(a, recipe=recipes[a.name])
        if a.origin == "built" and a.name in recipes and recipes[a.name].builds_differently
        else a
        for a in build.artifacts
    )
    return replace(build, artifacts=artifacts)


def _with_runtime_needs(
    tcfg: TargetConfig, knowledge: Knowledge, build: TargetBuild
) -> TargetBuild:
    """Each built platform wheel with what it leaves to the runtime image (the knowledge
    file's ``system_libraries``, kept out of it by auditwheel) and the packages that ship it
    (``${PYTHON_VERSION}`` in their names is the target's: uwsgi's libpython3.11)."""
    artifacts = []
    for artifact in build.artifacts:
        needs = knowledge.runtime_needs(artifact.name, tcfg.package_manager)
        if artifact.origin == "built" and needs.libraries and not _pure(artifact.path):
            packages = tuple(expand(name, tcfg.target) for name in needs.packages)
            needed = replace(artifact, system_libraries=needs.libraries, runtime_packages=packages)
            artifacts.append(needed)
        else:
            artifacts.append(artifact)
    return replace(build, artifacts=tuple(artifacts))


def _pure(wheel: Path) -> bool:
    return wheel.name.endswith("-none-any.whl")


def _with_built_closure(tp: TargetPlan, build: TargetBuild) -> TargetBuild:
    """An sdist's dependencies may be dynamic: the built wheel's METADATA is the truth.
    What it requires that the plan does not hold for the target is a failure (so the
    wheelhouse is not published), with the sentence the plan would have given."""
    pins = [
        Pin(name=p.name, version=Version(p.version))
        for p in tp.packages
        if p.action in ("download", "build")
    ]
    requires: dict[NormalizedName, tuple[str, ...]] = {}
    for artifact in build.artifacts:
        if artifact.origin == "built":  # cached ones too: a cache hit proves no closure
            requires[artifact.name] = _wheel_requires(artifact.path)
    closure = check_closure(tp.target, pins, requires)
    failures = [
        BuildFailure(
            name=canonicalize_name(m.needed_by.split()[0]),
            version=m.needed_by.split()[1],
            reason=f"its built wheel requires {m.requirement} ({m.sentence}), which the plan "
            "does not hold: add it to the requirements",
        )
        for m in closure.missing
    ] + [
        BuildFailure(
            name=canonicalize_name(c.needed_by.split()[0]),
            version=c.needed_by.split()[1],
            reason=f"its built wheel: {c.sentence}",
        )
        for c in closure.conflicts
    ]
    return replace(build, failures=(*build.failures, *failures)) if failures else build


def _wheel_requires(path: Path) -> tuple[str, ...]:
    try:
        with zipfile.ZipFile(path) as wheel:
            name = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
            return parse_metadata(wheel.read(name), route="download").requires_dist
    except (OSError, zipfile.BadZipFile, StopIteration, MetadataError):
        return ()  # collect refuses a broken wheel with its own message


def _verifier(
    session: Session, engine: DockerEngine, say: Say, reports: list[VerifyReport]
) -> Callable[[Path, Target], bool]:
    """Verify a new wheelhouse tree before it is published (``--verify``)."""

    def verify(path: Path, target: Target) -> bool:
        report = verify_one(session, path, session.target_config(target), engine, say)
        reports.append(report)
        return report.ok

    return verify


def _publish(
    session: Session,
    tp: TargetPlan,
    build: TargetBuild,
    *,
    partial: bool,
    wheelhouses: dict[str, WheelhouseResult],
    unpublished: dict[str, str],
    say: Say,
    verify: Callable[[Path, Target], bool] | None = None,
) -> None:
    """Replace the target's wheelhouse only with a complete one that verifies (or with
    --partial: the one there is, verified or not)."""
    missing = [p.name for p in tp.by_action("error")] + [f.name for f in build.failures]
    target_id = tp.target.id
    if missing and not partial:
        why = f"{len(missing)} package(s) missing: {', '.join(sorted(missing))}"
        unpublished[target_id] = why
        say(f"[{target_id}] wheelhouse left as it was ({why}); --partial publishes anyway")
        return
    check = None
    if verify is not None:

        def check(path: Path) -> bool:
            return verify(path, tp.target) or partial

    result = collect_wheelhouse(build, session.config.output, check=check)
    if not result.published:
        unpublished[target_id] = "verify failed"
        say(f"[{target_id}] wheelhouse left as it was (verify failed); --partial publishes anyway")
        return
    wheelhouses[target_id] = result
    say(f"[{target_id}] wheelhouse: {result.path} ({result.wheels} wheels)")


def _build_requirements_resolver(
    session: Session, index: IndexConfig, files: FileStore
) -> RememberedResolver:
    """uv and the index, behind the record of their earlier answers (``resolutions``)."""
    compiler = UvCompiler(index_url=index.index_url, extra_index_urls=index.extra_index_urls)
    fetch = session.index_client(index).get_projects_sync

    def resolve(requirements: Sequence[str], target: Target) -> ResolvedWheels:
        return resolve_wheels(
            requirements,
            target,
            compile_for=compiler,
            fetch_projects=fetch,
            force_build=session.force_build,
            system_packages=session.system_packages,
        )

    settings = ResolverSettings.of(
        index_url=index.index_url,
        extra_index_urls=index.extra_index_urls,
        force_build=session.force_build,
        environ=os.environ,
        resolver=resolver_description(uv_version(compiler.command)),
    )
    return RememberedResolver(
        resolve,
        records=ResolutionRecords.for_cache(session.cache_dir, ttl=session.config.resolution_ttl),
        settings=settings,
        files=files,
        system_packages=session.system_packages,
        refresh=session.refresh,
    )


def _say_reused(session: Session, target: Target, resolve: RememberedResolver, say: Say) -> None:
    """How many of the target's resolutions of build requirements came from the record."""
    reused, resolved = resolve.reused, resolve.resolved
    resolve.reused = resolve.resolved = 0
    if not reused:
        return
    ttl = _duration(session.config.resolution_ttl)
    when = "in this run (--refresh)" if session.refresh else f"less than {ttl} ago"
    again = "" if session.refresh else " (--refresh resolves them again)"
    say(
        f"[{target.id}] build requirements: {reused} of {reused + resolved} resolution(s) "
        f"recorded {when}, reused{again}"
    )


def _duration(seconds: int) -> str:
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    return f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds} s"


def _counts(tp: TargetPlan) -> str:
    c = tp.counts
    return f"{c['download']} wheel(s) to download, {c['build']} to build, {c['error']} error(s)"


@contextlib.contextmanager
def _work_dir(cache_dir: Path) -> Iterator[str]:
    """``<cache>/work/<pid>``: removed at the end, and by the next run if this one is killed."""
    root = cache_dir / "work"
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.iterdir():
        if not stale.name.isdigit() or not _alive(int(stale.name)):
            shutil.rmtree(stale, ignore_errors=True)
    work = root / str(os.getpid())
    work.mkdir(exist_ok=True)
    try:
        yield str(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
