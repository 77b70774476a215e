"""scripts/benchlib.py's figures, from a fake build: no engine, no index."""

from __future__ import annotations

import pytest
from benchlib import WARM_UP, Timing, measure, median


def test_median_takes_each_figure_apart() -> None:
    timings = [
        Timing(stage=3.0, wall=9.0),
        Timing(stage=1.0, wall=20.0),
        Timing(stage=2.0, wall=4.0),
    ]
    assert median(timings) == Timing(stage=2.0, wall=9.0, check=None)


def test_median_of_the_checks_counts_only_the_runs_that_had_one() -> None:
    timings = [Timing(1.0, 1.0, check=4.0), Timing(1.0, 1.0), Timing(1.0, 1.0, check=2.0)]
    assert median(timings).check == 3.0


def test_measure_warms_up_each_column_then_takes_the_median_of_the_repeats(
    capsys: pytest.CaptureFixture[str],
) -> None:
    calls: list[tuple[str, str]] = []

    def build(column: str, name: str) -> Timing:
        calls.append((column, name))
        run = sum(1 for c in calls if c == (column, name))
        check = 0.5 if column == "cross" else None
        return Timing(stage=10.0 * run, wall=1.0, check=check)

    results = measure(build, ["native", "cross"], ["crcmod"], repeat=3)

    assert calls == [
        ("native", WARM_UP),
        *[("native", "crcmod")] * 3,
        ("cross", WARM_UP),
        *[("cross", "crcmod")] * 3,
    ]
    assert results == {
        ("native", "crcmod"): Timing(stage=20.0, wall=1.0),
        ("cross", "crcmod"): Timing(stage=20.0, wall=1.0, check=0.5),
    }
    assert capsys.readouterr().out.splitlines() == [
        f"[bench] native: warm-up ({WARM_UP}: toolchain and tools into BuildKit's cache)",
        "[bench] native crcmod: 20.0s stage",
        f"[bench] cross: warm-up ({WARM_UP}: toolchain and tools into BuildKit's cache)",
        "[bench] cross crcmod: 20.0s stage, check on the target 0.5s",
    ]
