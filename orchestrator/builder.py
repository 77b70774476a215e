"""The builder: a ``TargetPlan`` in, a ``TargetBuild`` out.

Downloads go to the content-addressed store; each build is keyed and looked up in
the build cache; whatever is missing is built in ONE ``docker buildx build`` per
target (BuildKit runs the package stages in parallel), offline, and each package's
outcome is read from the exported directory. Docker, the network, the resolver and
the clock are passed in; progress goes to a callback, never to stdout.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, Protocol

from packaging.utils import (
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_wheel_filename,
)

from orchestrator.buildcache import BuildCache, BuiltMeta, CachedBuild, CacheKeyInputs
from orchestrator.buildreqs import (
    TOOL_REQUIREMENTS,
    ResolvedWheels,
    SdistError,
    read_build_requires,
)
from orchestrator.config import TargetConfig
from orchestrator.dockerfile import (
    STAGE_PREFIX,
    DockerfileSpec,
    PackageStage,
    build_script,
    render_dockerfile,
    templates_digest,
    toolchain_packages,
)
from orchestrator.downloads import FileRequest, StoredFile, link_or_copy, sha256_of
from orchestrator.engine import BuildxRequest, BuildxResult, Engine, PlainProgressParser
from orchestrator.model import Artifact, BuildFailure, PackagePlan, TargetBuild, TargetPlan
from orchestrator.targets import Target

#: Lines of a build log a failure report carries.
LOG_TAIL_LINES = 25
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


@dataclass(frozen=True, kw_only=True)
class _Prepared:
    """A build package with its inputs on the host and its cache key."""

    package: PackagePlan
    sdist: StoredFile
    deps: tuple[StoredFile, ...]
    inputs: CacheKeyInputs

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
    digest = ctx.engine.image_digest(tcfg.base_image, platform)
    toolchain = toolchain_packages(
        tcfg.package_manager, tcfg.system_packages, *(b.system_packages for b in builds)
    )
    missing: list[_Prepared] = []
    for package in builds:
        prepared = _prepare(package, tcfg, digest, toolchain, ctx, outcome)
        if prepared is not None and not _from_cache(prepared, ctx, outcome):
            missing.append(prepared)
    if not missing:
        hits = sum(1 for a in outcome.artifacts if a.cached)
        _emit(ctx, plan.target, "nothing-to-build", message=_nothing_message(hits))
        return
    _run_builds(tcfg, missing, toolchain, ctx, outcome)


def _nothing_message(hits: int) -> str:
    return f"nothing to build: {hits} wheel(s) from the build cache"


def _prepare(  # noqa: PLR0917
    package: PackagePlan,
    tcfg: TargetConfig,
    digest: str,
    toolchain: tuple[str, ...],
    ctx: BuildContext,
    outcome: _Outcome,
) -> _Prepared | None:
    """Fetch the sdist and its build requirements; ``None`` (and a failure) if impossible."""
    target = tcfg.target
    (sdist,) = ctx.downloader.fetch_all([_request(package)])
    _emit(ctx, target, "resolve", package.name, "build requirements")
    try:
        resolved = ctx.resolve(read_build_requires(sdist.path), target)
    except SdistError as exc:
        resolved = ResolvedWheels(requested=(), problem=exc.message)
    if resolved.problem is not None:
        outcome.failures.append(_failure(package, resolved.problem))
        _emit(ctx, target, "package-failed", package.name, resolved.problem)
        return None
    deps = tuple(ctx.downloader.fetch_all(_request(w) for w in resolved.wheels))
    inputs = CacheKeyInputs(
        sdist_sha256=sdist.sha256,
        target_id=target.id,
        python=tcfg.python,
        base_image_digest=digest,
        toolchain_packages=toolchain,
        build_requirement_sha256s=tuple(d.sha256 for d in deps),
        tool_requirements=TOOL_REQUIREMENTS,
        templates_sha256=templates_digest(),
    )
    return _Prepared(package=package, sdist=sdist, deps=deps, inputs=inputs)


def _from_cache(prepared: _Prepared, ctx: BuildContext, outcome: _Outcome) -> bool:
    if ctx.force:
        return False
    hit = ctx.cache.lookup(prepared.inputs.key)
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
        )
        for wheel in entry.wheels
    ]


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
    target = tcfg.target
    tools = ctx.resolve(TOOL_REQUIREMENTS, target)
    if tools.problem is not None:
        reason = f"the build tools cannot be had for {target.id}: {tools.problem}"
        outcome.failures += [_failure(p.package, reason) for p in missing]
        return
    tool_files = ctx.downloader.fetch_all(_request(w) for w in tools.wheels)
    root = ctx.workdir / target.id
    shutil.rmtree(root, ignore_errors=True)
    try:
        spec = _spec(tcfg, missing, toolchain, tools.wheels, tool_files, ctx.timeout)
        context = _assemble_context(root / "context", spec, missing, tool_files)
        result, seconds = _buildx(tcfg, missing, context, root / "out", ctx)
        outcome.seconds = result.seconds
        _collect(target, missing, result, seconds, root / "out", ctx, outcome)
    finally:
        if not ctx.keep_context:
            shutil.rmtree(root, ignore_errors=True)


def _spec(  # noqa: PLR0917
    tcfg: TargetConfig,
    missing: list[_Prepared],
    toolchain: tuple[str, ...],
    tool_plans: tuple[PackagePlan, ...],
    tool_files: list[StoredFile],
    timeout: int,
) -> DockerfileSpec:
    pip = next(f for p, f in zip(tool_plans, tool_files, strict=True) if p.name == "pip")
    return DockerfileSpec(
        package_manager=tcfg.package_manager,
        toolchain=toolchain,
        python=tcfg.python,
        platform_tag=tcfg.target.platform_tag,
        timeout=timeout,
        tools=tuple(f"{p.name}=={p.version}" for p in tool_plans),
        pip_wheel=pip.filename,
        packages=tuple(PackageStage(name=p.name, sdist=p.sdist.filename) for p in missing),
    )


def _assemble_context(
    context: Path, spec: DockerfileSpec, missing: list[_Prepared], tools: list[StoredFile]
) -> Path:
    """Dockerfile, script, ``tools/``, ``sdists/`` and ``deps/<name>/`` (hard links)."""
    context.mkdir(parents=True)
    (context / "Dockerfile").write_text(render_dockerfile(spec), encoding="utf-8")
    shutil.copyfile(build_script(), context / "build-wheel.sh")
    for tool in tools:
        link_or_copy(tool.path, context / "tools" / tool.filename)
    for prepared in missing:
        link_or_copy(prepared.sdist.path, context / "sdists" / prepared.sdist.filename)
        (context / "deps" / prepared.name).mkdir(parents=True, exist_ok=True)
        for dep in prepared.deps:
            link_or_copy(dep.path, context / "deps" / prepared.name / dep.filename)
    return context


def _buildx(
    tcfg: TargetConfig, missing: list[_Prepared], context: Path, out: Path, ctx: BuildContext
) -> tuple[BuildxResult, dict[NormalizedName, float]]:
    """The one buildx run; returns its result and BuildKit's seconds per package stage."""
    stages = tuple(PackageStage(name=p.name, sdist=p.sdist.filename).stage for p in missing)
    limit = ctx.overall_timeout or float(ctx.timeout * len(missing) + 3600)
    request = BuildxRequest(
        context=context,
        dockerfile=context / "Dockerfile",
        platform=tcfg.target.arch.docker_platform,
        output_dir=out,
        build_args={"BASE_IMAGE": tcfg.base_image},
        target_stage=EXPORT_STAGE,
        no_cache_filter=stages,
        timeout=limit,
    )
    target = tcfg.target.id
    _emit(ctx, target, "buildx-start", message=", ".join(p.name for p in missing))
    watcher = _ProgressWatcher(target, ctx.progress)
    result = ctx.engine.buildx_build(request, watcher.feed)
    _emit(ctx, target, "buildx-done", message=f"exit {result.returncode}", seconds=result.seconds)
    return result, watcher.seconds


class _ProgressWatcher:
    """Turns buildx plain-progress lines into ProgressEvents and notes package times."""

    def __init__(self, target: str, progress: Progress) -> None:
        self.target = target
        self.progress = progress
        self.parser = PlainProgressParser()
        self.seconds: dict[NormalizedName, float] = {}

    def feed(self, line: str) -> None:
        step = self.parser.feed(line)
        if step is None:
            return
        package = _package_of(step.stage)
        if package is None:
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
    if stage is None or not stage.startswith(STAGE_PREFIX):
        return None
    return canonicalize_name(stage[len(STAGE_PREFIX) :])


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


def _store(  # noqa: PLR0917
    prepared: _Prepared,
    found: PackageResult,
    took: float,
    log_path: Path | None,
    ctx: BuildContext,
    outcome: _Outcome,
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
    )
    entry = ctx.cache.store(prepared.inputs.key, found.wheels, meta, prepared.inputs)
    outcome.artifacts += _artifacts(prepared, entry, cached=False)
    _emit(
        ctx, prepared.inputs.target_id, "package-built", prepared.name, entry.meta.wheels[0], took
    )
    return None


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
    path = ctx.log_dir / target.id / "buildx.log"
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
