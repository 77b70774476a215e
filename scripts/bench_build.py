#!/usr/bin/env python3
"""Native amd64 vs arm64-under-QEMU build times of real sdists, with the real builder.

Usage: .venv/bin/python scripts/bench_build.py [--arch amd64 arm64] [--repeat N]
       [--packages crcmod docopt cffi]

Each package is built alone (one buildx run each, so packages do not compete for the
CPU) with a fresh wheelhouse cache, so nothing comes from wheelhouse's build cache.
BuildKit's cache is kept: a warm-up run first makes sure the toolchain and tools
stages are cached, and the time reported per package is BuildKit's time for that
package's stage only (pip wheel + auditwheel repair, container start included). The
wall time of each whole `build_target` call is shown too. arm64 is built with
`--mode emulate` (QEMU, never a cross build): these are bench_cross.py's native and
emulate columns (scripts/benchlib.py), with the packaged knowledge file. Needs the engine
and the local test images (`make setup`) and PyPI.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Sequence
from pathlib import Path

from benchlib import EMULATE, NATIVE, Bench, Timing, measure

#: bench_cross.py's native and emulate columns, named by architecture.
COLUMNS = {"amd64": NATIVE, "arm64": EMULATE}
PACKAGES = ("crcmod", "docopt", "cffi")


def table(results: dict[tuple[str, str], Timing], packages: Sequence[str]) -> str:
    head = f"{'package':<10} {'amd64 native':>13} {'arm64 QEMU':>11} {'ratio':>6}"
    head += f"   {'wall amd64':>10} {'wall arm64':>10}"
    lines = [head, "-" * len(head)]
    sums = {"amd64": 0.0, "arm64": 0.0}
    for name in packages:
        amd, arm = results["amd64", name], results["arm64", name]
        sums["amd64"] += amd.stage
        sums["arm64"] += arm.stage
        lines.append(
            f"{name:<10} {amd.stage:>12.1f}s {arm.stage:>10.1f}s {arm.stage / amd.stage:>5.1f}x"
            f"   {amd.wall:>9.1f}s {arm.wall:>9.1f}s"
        )
    total = sums["arm64"] / sums["amd64"]
    lines.append(f"{'total':<10} {sums['amd64']:>12.1f}s {sums['arm64']:>10.1f}s {total:>5.1f}x")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--arch", nargs="+", default=["amd64", "arm64"], choices=list(COLUMNS))
    parser.add_argument("--packages", nargs="+", default=list(PACKAGES), choices=PACKAGES)
    parser.add_argument("--repeat", type=int, default=1, help="runs per package (median)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="wheelhouse-bench-") as work:
        bench = Bench(Path(work), COLUMNS)
        results = measure(bench.build, args.arch, args.packages, args.repeat)
    if set(args.arch) == {"amd64", "arm64"}:
        print(table(results, args.packages))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
