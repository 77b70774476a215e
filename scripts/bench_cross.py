#!/usr/bin/env python3
"""amd64 native vs arm64 cross-compiled vs arm64 under QEMU: build times of real sdists.

Usage: .venv/bin/python scripts/bench_cross.py [--packages cffi crcmod psutil netifaces]
       [--repeat N] [--modes native cross emulate]

Each package is built alone (one buildx run each, so packages do not compete for the CPU)
with the real builder and a fresh wheelhouse cache, so nothing comes from wheelhouse's build
cache; BuildKit's cache is kept, and a warm-up build per mode first makes sure the toolchain
and tools stages are cached. The time per package is BuildKit's for the package's build
stage (``pip wheel`` + ``auditwheel repair``, container start included; for a cross build
also the native symbol check); a cross-built wheel's check on the target under QEMU is shown
apart (``check``). Every cross-built wheel must pass that check (no QEMU fallback), or the
bench stops. cffi and psutil have aarch64 wheels on PyPI and are forced from source. The
knowledge file is left out, so every build of a mode shares one toolchain stage with the
integration tests (python3-dev, libffi-dev). Needs the engine, the local test images
(`make setup`) and PyPI.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name
from packaging.version import Version

from orchestrator.buildcache import BuildCache
from orchestrator.builder import build_target
from orchestrator.buildreqs import ResolvedWheels, UvCompiler, resolve_wheels
from orchestrator.config import BuildMode, TargetConfig
from orchestrator.crossbuild import BuildModes
from orchestrator.downloads import Downloader
from orchestrator.engine import DockerEngine
from orchestrator.index import IndexClient, IndexConfig
from orchestrator.knowledge import Knowledge
from orchestrator.model import Artifact, Pin, TargetPlan
from orchestrator.planner import plan_target
from orchestrator.targets import Target

IMAGES = {
    "amd64": "wheelhouse-test/python:3.11-bookworm-amd64",
    "arm64": "wheelhouse-test/python:3.11-bookworm-arm64",
}
#: column -> (architecture, build mode)
MODES: dict[str, tuple[str, BuildMode]] = {
    "native": ("amd64", "auto"),
    "cross": ("arm64", "cross"),
    "emulate": ("arm64", "emulate"),
}
TARGETS = {"amd64": "cp311-manylinux_2_36_x86_64", "arm64": "cp311-manylinux_2_36_aarch64"}
VERSIONS = {
    "cffi": "1.17.1",
    "crcmod": "1.7",
    "psutil": "6.1.1",
    "netifaces": "0.11.0",
    "docopt": "0.6.2",
}
#: Built from source even where PyPI has a wheel for the target.
FORCED = {"cffi", "psutil"}
SYSTEM_PACKAGES = ("python3-dev", "libffi-dev")
WARM_UP = "docopt"


@dataclass(frozen=True)
class Timing:
    stage: float
    wall: float
    check: float | None = None


class Bench:
    def __init__(self, work: Path) -> None:
        self.work = work
        self.engine = DockerEngine()
        self.index = IndexClient(IndexConfig(), cache=None)
        self.compiler = UvCompiler()
        self.runs = 0

    def resolve(self, requirements: Sequence[str], target: Target) -> ResolvedWheels:
        return resolve_wheels(
            requirements,
            target,
            compile_for=self.compiler,
            fetch_projects=self.index.get_projects_sync,
        )

    def plan(self, target: Target, name: str) -> TargetPlan:
        pin = Pin(
            name=canonicalize_name(name),
            version=Version(VERSIONS[name]),
            force_build=name in FORCED,
        )
        return plan_target(target, [pin], self.index.get_projects_sync([pin.name]))

    def build(self, column: str, name: str) -> Timing:
        """One package, one buildx run, a fresh wheelhouse cache (BuildKit's is kept)."""
        arch, mode = MODES[column]
        target = Target.parse(TARGETS[arch])
        tcfg = TargetConfig(
            target=target,
            base_image=IMAGES[arch],
            runtime_image=IMAGES[arch],
            package_manager="apt",
            system_packages=SYSTEM_PACKAGES,
            cross_image=IMAGES["amd64"],
        )
        self.runs += 1
        cache = self.work / f"run-{self.runs}"
        start = time.monotonic()
        built = build_target(
            self.plan(target, name),
            tcfg,
            engine=self.engine,
            downloader=Downloader.for_cache(self.work / "files"),
            cache=BuildCache.for_cache(cache),
            resolve=self.resolve,
            workdir=cache / "work",
            log_dir=cache / "logs",
            modes=BuildModes(override=mode),
            knowledge=Knowledge(),
        )
        wall = time.monotonic() - start
        if built.failures:
            failure = built.failures[0]
            sys.exit(f"{column} {name}: {failure.reason}\n{failure.log_tail}")
        artifact = _built(built.artifacts)
        expected = {"native": "native", "cross": "cross", "emulate": "emulate"}[column]
        if artifact.build_mode != expected or artifact.fallback_reason:
            sys.exit(f"{column} {name}: built {artifact.build_mode} ({artifact.fallback_reason})")
        assert artifact.build_seconds is not None
        return Timing(stage=artifact.build_seconds, wall=wall, check=artifact.check_seconds)


def _built(artifacts: Sequence[Artifact]) -> Artifact:
    (artifact,) = [a for a in artifacts if a.origin == "built" and not a.cached]
    return artifact


def median(timings: list[Timing]) -> Timing:
    checks = [t.check for t in timings if t.check is not None]
    return Timing(
        stage=statistics.median(t.stage for t in timings),
        wall=statistics.median(t.wall for t in timings),
        check=statistics.median(checks) if checks else None,
    )


def measure(
    bench: Bench, columns: Sequence[str], packages: Sequence[str], repeat: int
) -> dict[tuple[str, str], Timing]:
    results: dict[tuple[str, str], Timing] = {}
    for column in columns:
        print(f"[bench] {column}: warm-up ({WARM_UP}: toolchain and tools into BuildKit's cache)")
        bench.build(column, WARM_UP)
        for name in packages:
            timings = [bench.build(column, name) for _ in range(repeat)]
            results[column, name] = median(timings)
            found = results[column, name]
            check = f", check on the target {found.check:.1f}s" if found.check else ""
            print(f"[bench] {column} {name}: {found.stage:.1f}s stage{check}", flush=True)
    return results


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}s"


def _ratio(top: float | None, bottom: float | None) -> str:
    return "-" if top is None or not bottom else f"{top / bottom:.1f}x"


def table(results: dict[tuple[str, str], Timing], packages: Sequence[str]) -> str:
    """Markdown: per package the three stage times, the ratios, the cross check's time."""
    lines = [
        "| package | amd64 native | arm64 cross | arm64 QEMU | cross / native "
        "| QEMU / native | QEMU / cross | cross check (QEMU) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    sums: dict[str, float] = {}
    for name in [*packages, "total"]:
        row = {}
        for column in MODES:
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--packages",
        nargs="+",
        default=["cffi", "crcmod", "psutil", "netifaces"],
        choices=[v for v in VERSIONS if v != WARM_UP],
    )
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    parser.add_argument("--repeat", type=int, default=1, help="runs per package (median)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="wheelhouse-bench-cross-") as work:
        results = measure(Bench(Path(work)), args.modes, args.packages, args.repeat)
    print(table(results, args.packages))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
