"""What the closure check adds to ``wheelhouse plan`` on a large pinned file, cold and warm.

Prints figures; it is not a test. It asks the real PyPI (and uv), so it needs the network.
From the repository root:

    .venv/bin/python scripts/bench_closure.py [--repeat 5] [--requirements FILE]

For each target set it times the in-process plan (``Session.open`` + ``Session.plan``)
without the closure check and with it: cold (a fresh cache each time: index pages and
file metadata) and warm (the same cache again), medians of ``--repeat`` runs. The file is
compiled for Python 3.12, so on cp311 (3.11.2) the check finds what it misses and uv
completes it (``resolve: auto``): that cost is in the cp311 rows.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from orchestrator.model import Plan
from orchestrator.session import Session

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / "tests/data/bench/requirements-large.txt"
TARGET_SETS = {
    "cp312 aarch64": "  - id: cp312-manylinux_2_36_aarch64\n",
    "cp311 aarch64 (3.11.2)": "  - id: cp311-manylinux_2_36_aarch64\n"
    "    python_full_version: 3.11.2\n",
}


def median(values: list[float]) -> float:
    return statistics.median(values)


def plan_once(config: Path, cache: Path, *, closure: bool) -> tuple[float, Plan]:
    session = Session.open(config, None, [], [])
    session = _with_cache(session, cache)
    if not closure:
        object.__setattr__(session, "_closure_check", _no_check)
    start = time.perf_counter()
    plan = session.plan()
    return time.perf_counter() - start, plan


def _no_check(*_args: Any, **_kwargs: Any) -> None:
    return None


def _with_cache(session: Session, cache: Path) -> Session:
    return replace(session, cache_dir=cache)


def timed(run: Callable[[], tuple[float, Plan]], repeat: int) -> tuple[float, Plan]:
    results = [run() for _ in range(repeat)]
    return median([r[0] for r in results]), results[-1][1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--requirements", type=Path, default=REQUIREMENTS)
    args = parser.parse_args()
    pins = sum(1 for line in args.requirements.read_text().splitlines() if "==" in line)
    print(f"{args.requirements.relative_to(ROOT)}: {pins} pins; medians of {args.repeat}\n")
    print("| targets | cold, no check | cold, checked | warm, no check | warm, checked | added |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    with tempfile.TemporaryDirectory(prefix="bench-closure-") as tmp:
        for label, targets in TARGET_SETS.items():
            config = Path(tmp) / f"{len(label)}.yaml"
            config.write_text(
                f"requirements: {args.requirements.resolve()}\nresolve: auto\ntargets:\n{targets}"
            )
            row = _row(config, Path(tmp) / label.replace(" ", "-"), args.repeat)
            print(f"| {label} | " + " | ".join(row) + " |")


def _row(config: Path, root: Path, repeat: int) -> list[str]:
    counter = iter(range(1_000_000))

    def cold(closure: bool) -> tuple[float, Plan]:
        return plan_once(config, root / f"cold-{next(counter)}", closure=closure)

    cold_off, _ = timed(lambda: cold(False), repeat)
    cold_on, _ = timed(lambda: cold(True), repeat)
    warm = root / "warm"
    plan_once(config, warm, closure=True)
    warm_off, _ = timed(lambda: plan_once(config, warm, closure=False), repeat)
    warm_on, plan = timed(lambda: plan_once(config, warm, closure=True), repeat)
    added = [w.split(": added ", 1)[1].split(":")[0] for w in plan.warnings if ": added " in w]
    errors = [p.name for t in plan.targets for p in t.by_action("error")]
    note = ", ".join(added) or "none"
    if errors:
        note += f"; errors: {', '.join(errors)}"
    return [f"{s:.2f} s" for s in (cold_off, cold_on, warm_off, warm_on)] + [note]


if __name__ == "__main__":
    main()
