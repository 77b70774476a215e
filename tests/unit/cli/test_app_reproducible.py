"""``wheelhouse build --check-reproducible``: the option reaches the pipeline, a difference
is exit 9, and the report names the member."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from orchestrator.build.reproduce import Reproduction
from orchestrator.cli.reports import reproducible_markdown, reproducible_report
from orchestrator.errors import ExitCode
from orchestrator.model import Plan
from orchestrator.pipeline import BuildRun
from tests.unit.cli.test_app_build_modes import build_options

SAME = Reproduction(
    target="cp311-manylinux_2_36_x86_64",
    name=canonicalize_name("crcmod"),
    version="1.7",
    wheels=("crcmod-1.7-cp311-cp311-manylinux_2_36_x86_64.whl",),
    difference=None,
)
OTHER = Reproduction(
    target="cp311-manylinux_2_36_x86_64",
    name=canonicalize_name("timebomb"),
    version="1.0",
    wheels=("timebomb-1.0-py3-none-any.whl",),
    difference="timebomb-1.0-py3-none-any.whl: member timebomb/_stamp.py differs",
    kept=(Path("/cache/logs/rebuild/x/timebomb-1.0-py3-none-any.whl"),),
)


def test_the_option_reaches_the_pipeline(monkeypatch: pytest.MonkeyPatch) -> None:
    code, options = build_options(monkeypatch, "--check-reproducible")
    assert code == 0
    assert options is not None
    assert options.check_reproducible is True
    _code, default = build_options(monkeypatch)
    assert default is not None
    assert default.check_reproducible is False


def run_with(*found: Reproduction) -> BuildRun:
    return BuildRun(
        plan=Plan(targets=()), builds=(), wheelhouses={}, unpublished={}, reproductions=found
    )


def test_a_package_that_differs_is_exit_8_naming_it() -> None:
    assert run_with(SAME).problem() is None
    problem = run_with(SAME, OTHER).problem()
    assert problem is not None
    assert problem.exit_code == ExitCode.NOT_REPRODUCIBLE
    assert int(problem.exit_code) == 9
    assert problem.message == (
        "1 package(s) not reproducible: cp311-manylinux_2_36_x86_64: timebomb"
    )


def test_the_report_has_a_row_per_package_and_the_kept_wheels() -> None:
    text = reproducible_markdown((SAME, OTHER))
    assert "| `cp311-manylinux_2_36_x86_64` | crcmod 1.7 | :white_check_mark: identical |" in text
    assert (
        "timebomb 1.0 | :x: timebomb-1.0-py3-none-any.whl: member timebomb/_stamp.py differs"
        in text
    )
    assert "`/cache/logs/rebuild/x/timebomb-1.0-py3-none-any.whl`" in text
    report = reproducible_report((SAME, OTHER))
    assert report["ok"] is False
    assert [p["identical"] for p in report["targets"]["cp311-manylinux_2_36_x86_64"]] == [
        True,
        False,
    ]
