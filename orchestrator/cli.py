"""The ``wheelhouse`` command line: parse options, call the library, map errors to exit codes.

Nothing here decides anything about packages; ``main`` is the one place that turns
a ``WheelhouseError`` into a message and an exit code.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Protocol, cast

import typer

from orchestrator import __version__
from orchestrator.errors import ExitCode, PlanError, WheelhouseError
from orchestrator.session import Session

app = typer.Typer(
    name="wheelhouse",
    help=(
        "Build a wheelhouse for every machine your Python app deploys to.\n\n"
        "Typical flow for a Raspberry Pi (arm64) running python:3.12-alpine:\n\n"
        "  wheelhouse plan --arch arm64      # which packages have wheels, which must be built\n\n"
        "  wheelhouse build --arch arm64     "
        "# build what PyPI lacks, collect wheelhouse/<target>/\n\n"
        "  wheelhouse verify --arch arm64    # install + import it in a clean container\n\n"
        "Settings live in wheelhouse.yaml (see README). Exit codes: 0 ok, 2 bad input, "
        "3 plan has errors, 4 some builds failed, 5 verify failed, 6 Docker/buildx/QEMU "
        "unavailable, 7 package index unavailable."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="wheelhouse.yaml to read (default: ./wheelhouse.yaml)."),
]
RequirementsOpt = Annotated[
    Path | None,
    typer.Option(
        "--requirements",
        "-r",
        help="requirements.txt or uv.lock (overrides `requirements:` in wheelhouse.yaml).",
    ),
]
TargetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--target",
        "-t",
        help="Target id, repeatable, e.g. cp312-musllinux_1_2_aarch64. "
        "Default: every target in wheelhouse.yaml.",
    ),
]
ArchOpt = Annotated[
    list[str] | None,
    typer.Option("--arch", "-a", help="Keep only targets of this architecture: arm64 or amd64."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document (see README).")]
RefreshOpt = Annotated[
    bool, typer.Option("--refresh", help="Revalidate every cached index page now.")
]


@app.command()
def plan(  # noqa: PLR0917 - typer maps each parameter to an option
    config: ConfigOpt = None,
    requirements: RequirementsOpt = None,
    target: TargetOpt = None,
    arch: ArchOpt = None,
    as_json: JsonOpt = False,
    refresh: RefreshOpt = False,
) -> None:
    """Decide, per target and package: download a wheel, build from the sdist, or error.

    Reads requirements.txt (pins, hashes, extras, markers, -r/-c) or uv.lock, evaluates
    markers for each target, asks the index (PEP 691) which files exist, and prints a
    table (or --json). Exit 3 when any package can be neither downloaded nor built.
    """
    session = Session.open(config, requirements, target or [], arch or [], refresh=refresh)
    result = session.plan()
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2))
    else:
        typer.echo(session.plan_table(result))
    if result.has_errors:
        raise PlanError("some packages can be neither downloaded nor built (see ERROR rows)")


@app.command()
def version() -> None:
    """Print wheelhouse's version."""
    typer.echo(__version__)


def main() -> None:
    """Entry point: run the app, turn our errors into a message and an exit code."""
    try:
        app(standalone_mode=False)
    except WheelhouseError as exc:
        _report(exc)
        sys.exit(int(exc.exit_code))
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("aborted", err=True)
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except _click_exception() as exc:
        cast(_Showable, exc).show()
        sys.exit(int(ExitCode.BAD_INPUT))


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
