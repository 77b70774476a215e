#!/usr/bin/env python3
"""amd64 native vs arm64 (or armv7l) cross-compiled vs under QEMU: build times of real sdists.

Usage: .venv/bin/python scripts/bench_cross.py [--packages cffi crcmod psutil netifaces psycopg2]
       [--repeat N] [--modes native cross emulate] [--libc glibc|musl] [--arch arm64|armv7]

Each package is built alone (one buildx run each, so packages do not compete for the CPU)
with the real builder and a fresh wheelhouse cache, so nothing comes from wheelhouse's build
cache; BuildKit's cache is kept, and a warm-up build per mode first makes sure the toolchain
and tools stages are cached. The time per package is BuildKit's for the package's build
stage (``pip wheel`` + ``auditwheel repair``, container start included; for a cross build
also the native symbol check); a cross-built wheel's check on the target under QEMU is shown
apart (``check``). Every cross-built wheel must pass that check (no QEMU fallback), or the
bench stops. cffi and psutil have aarch64 wheels on PyPI and are forced from source. The
knowledge file is left out, so every build of a mode shares one toolchain stage with the
integration tests (python3-dev, libffi-dev), but for uwsgi's ``system_libraries`` (its
binary must keep libpython, or its cross build fails the check; ``--packages uwsgi``) and
psycopg2 (not in the default set; its build runs ``pg_config``), which adds libpq-dev, as
tests/integration/test_cross.py does.
``--libc musl`` builds for the musl CPython 3.13 images instead (musllinux_1_2; their
cross builds use the amd64 image as cross_image).
``--arch armv7`` builds for 32-bit Raspberry Pi OS (cp311-manylinux_2_36_armv7l, the armhf
image; Debian's gcc-arm-linux-gnueabihf for the cross column; glibc only).
Needs the engine, the local test images (`make setup`) and PyPI.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Sequence
from pathlib import Path

from benchlib import (
    CROSS,
    EMULATE,
    LIBCS,
    NATIVE,
    VERSIONS,
    WARM_UP,
    Bench,
    Column,
    Timing,
    measure,
)
from packaging.utils import canonicalize_name

from orchestrator.knowledge import Knowledge, PackageKnowledge, load_knowledge

COLUMNS = {"native": NATIVE, "cross": CROSS, "emulate": EMULATE}
#: ``--arch``: the test images' key and the table's name for the foreign architecture.
ARCHES = {"arm64": ("arm64", "arm64"), "armv7": ("armhf", "armv7l")}


def columns_for(arch: str) -> dict[str, Column]:
    key = ARCHES[arch][0]
    return {
        "native": NATIVE,
        "cross": Column(arch=key, mode=CROSS.mode, built=CROSS.built),
        "emulate": Column(arch=key, mode=EMULATE.mode, built=EMULATE.built),
    }


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}s"


def _ratio(top: float | None, bottom: float | None) -> str:
    return "-" if top is None or not bottom else f"{top / bottom:.1f}x"


def table(
    results: dict[tuple[str, str], Timing], packages: Sequence[str], arch: str = "arm64"
) -> str:
    """Markdown: per package the three stage times, the ratios, the cross check's time."""
    lines = [
        f"| package | amd64 native | {arch} cross | {arch} QEMU | cross / native "
        "| QEMU / native | QEMU / cross | cross check (QEMU) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    sums: dict[str, float] = {}
    for name in [*packages, "total"]:
        row = {}
        for column in COLUMNS:
            if name == "total":
                row[column] = sums.get(column)
                continue
            found = results.get((column, name))
            row[column] = found.stage if found else None
            if found:
                sums[column] = sums.get(column, 0.0) + found.stage
        check = results.get(("cross", name))
        check_time = check.check if check else None
        if name == "total":
            checks = [results[c, p].check for c, p in results if c == "cross"]
            check_time = sum(c for c in checks if c is not None) if checks else None
        native, cross, emulate = row["native"], row["cross"], row["emulate"]
        lines.append(
            f"| {name} | {_seconds(native)} | {_seconds(cross)} | {_seconds(emulate)} "
            f"| {_ratio(cross, native)} | {_ratio(emulate, native)} | {_ratio(emulate, cross)} "
            f"| {_seconds(check_time)} |"
        )
    return "\n".join(lines)


def bench_knowledge() -> Knowledge:
    """No system packages (one toolchain stage for all), but uwsgi's libpython kept."""
    uwsgi = canonicalize_name("uwsgi")
    kept = load_knowledge().packages[uwsgi]
    entry = PackageKnowledge(
        system_libraries=kept.system_libraries,
        runtime_apt=kept.runtime_apt,
        test=kept.test,
        imports=kept.imports,
    )
    return Knowledge(packages={uwsgi: entry})


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--packages",
        nargs="+",
        default=["cffi", "crcmod", "psutil", "netifaces"],
        choices=[v for v in VERSIONS if v != WARM_UP],
    )
    parser.add_argument("--modes", nargs="+", default=list(COLUMNS), choices=list(COLUMNS))
    parser.add_argument("--repeat", type=int, default=1, help="runs per package (median)")
    parser.add_argument(
        "--libc", default="glibc", choices=list(LIBCS), help="the Debian or the musl test images"
    )
    parser.add_argument(
        "--arch", default="arm64", choices=list(ARCHES), help="the foreign architecture"
    )
    args = parser.parse_args(argv)
    if args.arch == "armv7" and args.libc != "glibc":
        parser.error("--arch armv7 has Debian (glibc) test images only")
    columns = columns_for(args.arch)
    with tempfile.TemporaryDirectory(prefix="wheelhouse-bench-cross-") as work:
        bench = Bench(Path(work), columns, knowledge=bench_knowledge(), images=LIBCS[args.libc])
        results = measure(bench.build, args.modes, args.packages, args.repeat)
    print(table(results, args.packages, ARCHES[args.arch][1]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
