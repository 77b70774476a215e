"""The ``wheelhouse`` command line: parse options, call the library, map errors to exit codes.

Nothing here decides anything about packages; ``main`` is the one place that turns
a ``WheelhouseError`` into a message and an exit code.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
from pathlib import Path
from typing import Annotated, Protocol, cast

import typer

from orchestrator import __version__
from orchestrator.build.engine import DockerEngine
from orchestrator.cli.console import Console
from orchestrator.cli.doctor import check_registry, run_doctor
from orchestrator.cli.render import plan_table
from orchestrator.cli.reports import (
    build_report,
    build_summary_markdown,
    reproducible_markdown,
    reproducible_report,
    verify_report,
    verify_summary_markdown,
    write_step_summary,
)
from orchestrator.config import BUILD_MODES, BuildMode, load_config
from orchestrator.errors import (
    BadInputError,
    EngineError,
    ExitCode,
    PlanError,
    VerifyFailedError,
    WheelhouseError,
)
from orchestrator.pipeline import BuildOptions, BuildRun, run_build, run_verify
from orchestrator.plan.modes import host_arch
from orchestrator.session import Session
from orchestrator.targets import Target
from orchestrator.wheelhouse.publish import ImageRef, check_wheelhouses, publish_wheelhouses
from orchestrator.wheelhouse.runtime import render_dockerignore, render_runtime_dockerfile
from orchestrator.wheelhouse.syspackages import runtime_needs_for

app = typer.Typer(
    name="wheelhouse",
    help=(
        "Build a wheelhouse for every machine your Python app deploys to.\n\n"
        "Typical flow for a Raspberry Pi (arm64) running python:3.12-alpine:\n\n"
        "  wheelhouse plan --arch arm64    (which packages need a build)\n\n"
        "  wheelhouse build --arch arm64   (build them, collect the wheelhouse)\n\n"
        "  wheelhouse verify --arch arm64  (install and import it, no compiler)\n\n"
        "Settings live in wheelhouse.yaml (see README). Exit codes: 0 ok, 2 bad input, "
        "3 plan has errors, 4 some builds failed, 5 verify failed, 6 Docker/buildx/QEMU "
        "unavailable, 7 package index unavailable, 8 registry unreachable or push refused, "
        "9 not reproducible, 10 disk full, 130/143 interrupted (SIGINT/SIGTERM)."
    ),
    no_args_is_help=True,
    context_settings={"max_content_width": 100},
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain text: a docstring's paragraphs are reflowed to the terminal's width (in "rich"
    # mode its line breaks are kept, and an 80-column terminal breaks each line in two).
    rich_markup_mode=None,
)

ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        metavar="PATH",
        help="wheelhouse.yaml to read (default: ./wheelhouse.yaml).",
    ),
]
RequirementsOpt = Annotated[
    Path | None,
    typer.Option(
        "--requirements",
        "-r",
        metavar="PATH",
        help="requirements.txt or uv.lock (overrides `requirements:` in wheelhouse.yaml).",
    ),
]
TargetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--target",
        "-t",
        metavar="ID",
        help="Target id, repeatable, e.g. cp312-musllinux_1_2_aarch64. "
        "Default: every target in wheelhouse.yaml.",
    ),
]
ArchOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--arch",
        "-a",
        metavar="ARCH",
        help="Keep only targets of this architecture: arm64, amd64 or arm (also armv7: "
        "32-bit Raspberry Pi OS, armv7l); repeatable.",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document (see README).")]
RefreshOpt = Annotated[
    bool, typer.Option("--refresh", help="Revalidate every cached index page now.")
]
BuildRefreshOpt = Annotated[
    bool,
    typer.Option(
        "--refresh",
        help="Revalidate every cached index page and resolve every build requirement again "
        "now, instead of reusing a resolution recorded less than build.resolution_ttl "
        "(default 24 h) ago: picks up a setuptools released since.",
    ),
]


ModeOpt = Annotated[
    str | None,
    typer.Option(
        "--mode",
        metavar="auto|cross|emulate",
        help="How every package for a foreign architecture is built: auto (cross-compile on "
        "the build machine where the target has a cross path, check on the target, QEMU when "
        "that fails), cross, or emulate (QEMU). Overrides build_mode in wheelhouse.yaml. "
        "Default: auto.",
    ),
]
EmulateOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--emulate",
        metavar="PKG",
        help="Build this package under QEMU whatever the mode (repeatable).",
    ),
]


@app.command()
def plan(
    config: ConfigOpt = None,
    requirements: RequirementsOpt = None,
    target: TargetOpt = None,
    arch: ArchOpt = None,
    mode: ModeOpt = None,
    emulate: EmulateOpt = None,
    as_json: JsonOpt = False,
    refresh: RefreshOpt = False,
) -> None:
    """Decide, per target and package: download a wheel, build from the sdist, or error.

    Reads requirements.txt (pins, hashes, extras, markers, -r/-c) or uv.lock, evaluates
    markers for each target, asks the index (PEP 691) which files exist, and prints a
    table (or --json). Each build's MODE says how `wheelhouse build` runs it: native,
    cross (cross-compiled on this machine, QEMU if that fails) or emulate (QEMU), and why
    when that is not the default; this machine stands for the buildx builder.
    Exit 3 when any package can be neither downloaded nor built.
    """
    session = Session.open(config, requirements, target or [], arch or [], refresh=refresh)
    modes = session.build_modes(
        build_arch=host_arch(), override=_build_mode(mode), emulate=tuple(emulate or ())
    )
    result = session.plan(modes)
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2))
    else:
        typer.echo(plan_table(result, images=session.base_images()))
    if result.has_errors:
        raise PlanError("some packages can be neither downloaded nor built (see ERROR rows)")


BuilderOpt = Annotated[
    str | None,
    typer.Option(
        "--builder",
        metavar="NAME",
        help="buildx builder to use (e.g. a multi-node or kubernetes builder with native "
        "arm64 nodes). Default: build.builder in wheelhouse.yaml, else docker's current one.",
    ),
]


@app.command()
def build(
    config: ConfigOpt = None,
    requirements: RequirementsOpt = None,
    target: TargetOpt = None,
    arch: ArchOpt = None,
    force_build: Annotated[
        list[str] | None,
        typer.Option(
            "--force-build",
            metavar="PKG",
            help="Build this package from its sdist even where a wheel exists (repeatable).",
        ),
    ] = None,
    builder: BuilderOpt = None,
    verify_after: Annotated[
        bool, typer.Option("--verify", help="Verify each wheelhouse once it is written.")
    ] = False,
    partial: Annotated[
        bool,
        typer.Option(
            "--partial",
            help="Publish a target's wheelhouse even when packages are missing "
            "(default: keep the previous one).",
        ),
    ] = False,
    timeout: Annotated[
        int | None,
        typer.Option(
            "--timeout",
            metavar="SECONDS",
            help="Seconds per package build (default: build.timeout).",
        ),
    ] = None,
    keep_context: Annotated[
        bool, typer.Option("--keep-context", help="Keep the buildx context for debugging.")
    ] = False,
    mode: ModeOpt = None,
    emulate: EmulateOpt = None,
    as_json: JsonOpt = False,
    refresh: BuildRefreshOpt = False,
    check_reproducible: Annotated[
        bool,
        typer.Option(
            "--check-reproducible",
            help="Then build every built package again from scratch (an empty build cache, "
            "BuildKit's cache unused, the same mode) and compare the wheels byte for byte; "
            "exit 9 naming the first differing member when one differs.",
        ),
    ] = False,
) -> None:
    """Plan, then build what the index lacks and collect wheelhouse/<target-id>/.

    Wheels the index has are downloaded and hash-checked; sdists are built offline in
    one `docker buildx build` per target (for a foreign architecture cross-compiled and
    checked on the target where it has a cross path, QEMU otherwise and as the fallback),
    repaired by auditwheel,
    and kept in a build cache so nothing is built twice. Each target's
    wheelhouse (wheels, PEP 503 simple/ index, manifest.json, provenance.json, hashed
    requirements.txt) is replaced atomically, and only when complete unless --partial.

    Each sdist's build requirements are resolved for the target by uv; the answer is
    recorded and reused for build.resolution_ttl (default 24 h) by runs with the same
    requirements, target, index and uv, so a run with nothing changed resolves nothing.
    A build requirement released meanwhile (a new setuptools) is used once the record
    expires, or now with --refresh; the build cache is keyed by the exact files.

    Builds are reproducible: the same inputs give the same wheel bytes (README,
    "Reproducible wheels"); --check-reproducible proves it for this run's packages.

    Exit 4 when a build failed, 5 when --verify failed, 9 when --check-reproducible
    found a package whose second build differs.
    """
    session = Session.open(
        config,
        requirements,
        target or [],
        arch or [],
        refresh=refresh,
        force_build=force_build or [],
    )
    console = Console()
    options = BuildOptions(
        builder=builder,
        verify=verify_after,
        partial=partial,
        timeout=timeout,
        keep_context=keep_context,
        mode=_build_mode(mode),
        emulate=tuple(emulate or ()),
        check_reproducible=check_reproducible,
    )
    result = run_build(session, options, console.say, console.build_event)
    _print_build(result, as_json)
    problem = result.problem()
    if problem is not None:
        raise problem


@app.command()
def verify(
    config: ConfigOpt = None,
    requirements: RequirementsOpt = None,
    target: TargetOpt = None,
    arch: ArchOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Install each wheelhouse into a clean target container and import every module.

    Starts the target's runtime image (no compiler, no network) for its platform, runs
    `pip install --no-index --only-binary :all: --require-hashes` of the wheelhouse's
    requirements.txt, then imports every top-level module of every installed
    distribution in a fresh interpreter. Exit 5 when anything fails, with the likely fix.
    """
    session = Session.open(config, requirements, target or [], arch or [])
    console = Console()
    reports = run_verify(session, console.say)
    if as_json:
        typer.echo(json.dumps(verify_report(reports), indent=2))
    else:
        typer.echo(verify_summary_markdown(reports))
    write_step_summary(verify_summary_markdown(reports), os.environ)
    bad = [r.target.id for r in reports if not r.ok]
    if bad:
        raise VerifyFailedError(f"verify failed for {', '.join(bad)}")


@app.command()
def dockerfile(
    target: Annotated[str, typer.Option("--target", "-t", metavar="ID", help="The target id.")],
    config: ConfigOpt = None,
    dockerignore: Annotated[
        bool, typer.Option("--dockerignore", help="Print the .dockerignore lines instead.")
    ] = False,
    cmd: Annotated[
        str | None,
        typer.Option("--cmd", metavar="COMMAND", help="How the app starts, e.g. 'python -m app'."),
    ] = None,
    from_image: Annotated[
        str | None,
        typer.Option(
            "--from-image",
            metavar="REF",
            help="Take the wheels from this wheelhouse image (`wheelhouse publish --image "
            "REF`) instead of the wheelhouse/ folder in the build context.",
        ),
    ] = None,
) -> None:
    """Print the runtime stage that installs a wheelhouse: no compiler, non-root user.

    The wheels are bind-mounted for the one `pip install` (RUN --mount), never copied, so
    no wheel stays in the final image. Save it as your Dockerfile (and `--dockerignore` as
    .dockerignore, which keeps a host .venv and caches out of the build context), then
    `docker buildx build --platform linux/arm64 .` from the directory holding wheelhouse/.
    With `--from-image REF` the wheels come from a published multi-platform wheelhouse
    image instead, and `docker buildx build --platform linux/arm64,linux/amd64 .` takes
    each platform's wheels from the one tag. The system packages the wheels need at run
    time (manifest.json `runtime_packages`) are installed first, with the target's package
    manager: the target's wheelhouse must be built.
    """
    loaded = load_config(config)
    tcfg = loaded.target_config(Target.parse(target))
    if dockerignore:
        typer.echo(render_dockerignore(), nl=False)
        return
    where = Path(os.path.relpath(loaded.output / tcfg.target.id))
    needs = runtime_needs_for(loaded.output, tcfg, loaded.targets if from_image is not None else ())
    text = render_runtime_dockerfile(
        tcfg, where.as_posix(), app_hint=cmd, from_image=from_image, needs=needs
    )
    typer.echo(text, nl=False)


@app.command()
def publish(
    image: Annotated[
        str,
        typer.Option(
            "--image",
            "-i",
            metavar="REF",
            help="Where to push: [registry/]repository[:tag], e.g. "
            "ghcr.io/you/app-wheels:nightly (tag default: latest).",
        ),
    ],
    config: ConfigOpt = None,
    requirements: RequirementsOpt = None,
    target: TargetOpt = None,
    arch: ArchOpt = None,
    builder: BuilderOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Push the built wheelhouses as one multi-platform image for `dockerfile --from-image`.

    Each target's wheelhouse/<id>/ (wheels, simple/, manifest.json, requirements.txt)
    becomes /wheels of an image FROM scratch for the target's platform, pushed as
    REF-<target id> (e.g. app-wheels:nightly-cp312-musllinux_1_2_aarch64). Once every one
    is in the registry, REF itself is pointed at one multi-platform index of them, so a
    failed push never leaves REF half-updated. Targets that differ in Python or libc
    cannot share one index (both would be linux/arm64): with several such groups each gets
    REF-cpXY-<libc> (e.g. nightly-cp312-musllinux) instead of REF. Every image carries OCI
    labels: when, the source requirements' sha256, the targets.

    Log in first with `docker login REGISTRY`: credentials come from docker's own
    configuration and are never printed. Build before (`wheelhouse build --verify`);
    then `wheelhouse dockerfile --target ID --from-image REF` prints the runtime stage
    that mounts the wheels from REF. Exit 8 when the registry cannot be reached or refuses
    the push.
    """
    session = Session.open(config, requirements, target or [], arch or [])
    ref = ImageRef.parse(image)
    wheelhouses = check_wheelhouses(session.config.output, [t.target for t in session.targets])
    engine = DockerEngine(builder=builder or session.config.builder)
    engine.ping()
    tags = publish_wheelhouses(ref, wheelhouses, session.requirements, engine, Console().say)
    if as_json:
        typer.echo(json.dumps({"format": 1, "tags": [t.to_json() for t in tags]}, indent=2))
        return
    for tag in tags:
        typer.echo(f"{tag.tag}  {', '.join(tag.platforms)}")
    first = next(iter(tags[0].digests))
    typer.echo(f"next: wheelhouse dockerfile --target {first} --from-image {tags[0].tag}")


@app.command()
def doctor(
    config: ConfigOpt = None,
    target: TargetOpt = None,
    arch: ArchOpt = None,
    builder: BuilderOpt = None,
    image: Annotated[
        str | None,
        typer.Option(
            "--image",
            metavar="REF",
            help="Also check that the registry `wheelhouse publish --image REF` pushes to "
            "answers (and your login is accepted for reading).",
        ),
    ] = None,
) -> None:
    """Check that Docker, buildx, QEMU and each target's base image are ready.

    Also the build platform (the buildx builder's native one) and, for each target that
    is cross-compiled, its cross image for that platform; with --image REF, the
    registry publish would push to. Every failed check prints its fix. Exit 6 when any
    check fails.
    """
    loaded = load_config(config)
    targets = loaded.select_targets(target or [], arch or [])
    engine = DockerEngine(builder=builder or loaded.builder)
    checks = run_doctor(engine, targets)
    if image is not None and checks[0].ok:
        checks.append(check_registry(engine, image))
    for check in checks:
        mark = "ok  " if check.ok else "FAIL"
        typer.echo(f"{mark} {check.name}: {check.detail}")
        if not check.ok and check.fix:
            typer.echo(f"     fix: {check.fix}")
    failed = [c.name for c in checks if not c.ok]
    if failed:
        raise EngineError(f"{len(failed)} check(s) failed: {', '.join(failed)}")


def _build_mode(value: str | None) -> BuildMode | None:
    if value is None:
        return None
    for mode in BUILD_MODES:
        if value == mode:
            return mode
    raise BadInputError(
        f"--mode {value!r} is not one of {', '.join(BUILD_MODES)}",
        hint="e.g. --mode emulate (QEMU for every package) or --emulate PKG for one",
    )


def _print_build(result: BuildRun, as_json: bool) -> None:
    report = build_report(result.builds, wheelhouses=result.wheelhouses)
    markdown = build_summary_markdown(result.builds, wheelhouses=result.wheelhouses)
    if result.verified:
        markdown += "\n" + verify_summary_markdown(result.verified)
        report["verify"] = verify_report(result.verified)
    report["unpublished"] = result.unpublished
    if result.reproductions:
        markdown += "\n" + reproducible_markdown(result.reproductions)
        report["reproducible"] = reproducible_report(result.reproductions)
    write_step_summary(markdown, os.environ)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    typer.echo(markdown)
    for target_id, why in result.unpublished.items():
        typer.echo(f"{target_id}: wheelhouse not updated: {why}")


@app.command()
def version() -> None:
    """Print wheelhouse's version."""
    typer.echo(__version__)


class Interrupted(BaseException):
    """SIGINT (Ctrl-C) or SIGTERM (`docker stop`, `kill PID`, a CI runner's cancel).

    A BaseException, as KeyboardInterrupt is, so no ``except Exception`` swallows it and
    every ``finally`` runs (the work directory removed, the build lock dropped, buildx
    killed); not a KeyboardInterrupt, which typer turns into a silent return of 130 that
    ended the run with exit 0.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_interrupted(signum: int, _frame: object) -> None:
    raise Interrupted(signum)


#: What an interrupted run leaves, said when it stops.
INTERRUPTED = (
    "each wheelhouse is the previous one or a complete new one, never half-written; what "
    "was downloaded or built before is in the cache, so the next run goes on from there"
)


def main() -> None:
    """Entry point: run the app, turn our errors into a message and an exit code."""
    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {signum: signal.signal(signum, _raise_interrupted) for signum in signals}
    try:
        _main()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _main() -> None:
    try:
        code = app(standalone_mode=False)
    except WheelhouseError as exc:
        _report(exc)
        sys.exit(int(exc.exit_code))
    except Interrupted as exc:
        typer.echo(f"interrupted ({signal.Signals(exc.signum).name}): {INTERRUPTED}", err=True)
        sys.exit(128 + exc.signum)
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("aborted", err=True)
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except _click_exception() as exc:
        cast(_Showable, exc).show()
        sys.exit(int(ExitCode.BAD_INPUT))
    # Without standalone mode typer returns a typer.Exit's code instead of exiting with it.
    if isinstance(code, int) and code:
        sys.exit(code)


def _report(exc: WheelhouseError) -> None:
    typer.echo(f"error: {exc.message}", err=True)
    if exc.hint:
        typer.echo(f"  hint: {exc.hint}", err=True)
    if os.environ.get("WHEELHOUSE_DEBUG"):
        raise exc


class _Showable(Protocol):
    def show(self) -> None: ...


def _click_exception() -> type[Exception]:
    """Click's usage-error base: newer typer vendors click as ``typer._click``, older typer
    depends on click itself (importing ``click`` alone fails on the newer ones)."""
    for module in ("typer._click.exceptions", "click.exceptions"):
        try:
            return cast("type[Exception]", importlib.import_module(module).ClickException)
        except ImportError:
            continue
    return typer.Exit  # neither is importable: nothing a usage error could be raised as


if __name__ == "__main__":
    main()
