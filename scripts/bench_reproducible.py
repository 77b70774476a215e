#!/usr/bin/env python3
"""Are real builds byte-reproducible? Each package built twice from cold, per mode.

Usage: .venv/bin/python scripts/bench_reproducible.py [--columns native cross emulate]
       [--packages cffi crcmod netifaces psutil] [--libc glibc|musl]

Each build is one package in one buildx run with a fresh wheelhouse cache (nothing from
wheelhouse's build cache; BuildKit never caches package stages). Prints, per package and
column, the wheel's sha256 and whether the second cold build gave the same bytes (else the
first differing member); then whether the cross-built and the QEMU-built wheel are the
same bytes. Needs the engine, the local test images (`make setup`) and PyPI. Figures of
a run on the development machine are in README "Reproducible wheels".
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from benchlib import CROSS, EMULATE, LIBCS, NATIVE, Bench

from orchestrator.build.reproduce import first_difference
from orchestrator.model import Artifact

COLUMNS = {"native": NATIVE, "cross": CROSS, "emulate": EMULATE}
PACKAGES = ("cffi", "crcmod", "netifaces", "psutil")


def verdict(one: Artifact, two: Artifact) -> str:
    if one.path.name != two.path.name:
        return f"other file names: {one.path.name} then {two.path.name}"
    return first_difference(one.path, two.path) or "identical"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--columns", nargs="+", choices=COLUMNS, default=list(COLUMNS))
    parser.add_argument("--packages", nargs="+", default=list(PACKAGES))
    parser.add_argument("--libc", choices=LIBCS, default="glibc")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-reproducible-") as temp:
        bench = Bench(Path(temp), COLUMNS, images=LIBCS[args.libc])
        first: dict[tuple[str, str], Artifact] = {}
        for column in args.columns:
            for name in args.packages:
                (_, one), (_, two) = (bench.build_wheel(column, name) for _ in range(2))
                first[column, name] = one
                print(f"{column:<8} {name:<10} {one.sha256[:16]}  twice: {verdict(one, two)}")
        for name in args.packages:
            if ("cross", name) in first and ("emulate", name) in first:
                found = verdict(first["cross", name], first["emulate", name])
                print(f"cross vs emulate {name:<10} {found}")


if __name__ == "__main__":
    main()
