#!/usr/bin/env python3
"""Native amd64 vs arm64-under-QEMU build times of real sdists, with the real builder.

Usage: .venv/bin/python scripts/bench_build.py [--arch amd64 arm64] [--repeat N]
       [--packages crcmod docopt cffi]

Each package is built alone (one buildx run each, so packages do not compete for the
CPU) with a fresh wheelhouse cache, so nothing comes from wheelhouse's build cache.
BuildKit's cache is kept: a warm-up run first makes sure the toolchain and tools
stages are cached, and the time reported per package is BuildKit's time for that
package's stage only (pip wheel + auditwheel repair, container start included). The
wall time of each whole `build_target` call is shown too. Needs the engine and the
local test images (`make setup`) and PyPI.
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
from orchestrator.config import TargetConfig
from orchestrator.downloads import Downloader
from orchestrator.engine import DockerEngine
from orchestrator.index import IndexClient, IndexConfig
from orchestrator.model import Pin, TargetPlan
from orchestrator.planner import plan_target
from orchestrator.targets import Target

IMAGES = {
    "amd64": "wheelhouse-test/python:3.11-bookworm-amd64",
    "arm64": "wheelhouse-test/python:3.11-bookworm-arm64",
}
TARGETS = {"amd64": "cp311-manylinux_2_36_x86_64", "arm64": "cp311-manylinux_2_36_aarch64"}
VERSIONS = {"crcmod": "1.7", "docopt": "0.6.2", "cffi": "1.17.1"}
#: Built from source even where PyPI has a wheel for the target.
FORCED = {"cffi"}
SYSTEM_PACKAGES = ("python3-dev", "libffi-dev")


@dataclass(frozen=True)
class Timing:
    stage: float
    wall: float


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

    def build(self, arch: str, name: str) -> Timing:
        """One package, one buildx run, a fresh wheelhouse cache (BuildKit's is kept)."""
        target = Target.parse(TARGETS[arch])
        tcfg = TargetConfig(
            target=target,
            base_image=IMAGES[arch],
            runtime_image=IMAGES[arch],
            package_manager="apt",
            system_packages=SYSTEM_PACKAGES,
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
        )
        wall = time.monotonic() - start
        if built.failures:
            failure = built.failures[0]
            sys.exit(f"{arch} {name}: {failure.reason}\n{failure.log_tail}")
        (artifact,) = [a for a in built.artifacts if a.origin == "built"]
        assert artifact.build_seconds is not None and not artifact.cached
        return Timing(stage=artifact.build_seconds, wall=wall)


def median(timings: list[Timing]) -> Timing:
    return Timing(
        stage=statistics.median(t.stage for t in timings),
        wall=statistics.median(t.wall for t in timings),
    )


def measure(
    bench: Bench, arches: Sequence[str], packages: Sequence[str], repeat: int
) -> dict[tuple[str, str], Timing]:
    results: dict[tuple[str, str], Timing] = {}
    for arch in arches:
        print(f"[bench] {arch}: warm-up (toolchain and tools stages into BuildKit's cache)")
        bench.build(arch, "docopt")
        for name in packages:
            timings = [bench.build(arch, name) for _ in range(repeat)]
            results[arch, name] = median(timings)
            print(f"[bench] {arch} {name}: {results[arch, name].stage:.1f}s stage")
    return results


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
    parser.add_argument("--arch", nargs="+", default=["amd64", "arm64"], choices=list(IMAGES))
    parser.add_argument("--packages", nargs="+", default=list(VERSIONS), choices=list(VERSIONS))
    parser.add_argument("--repeat", type=int, default=1, help="runs per package (median)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="wheelhouse-bench-") as work:
        results = measure(Bench(Path(work)), args.arch, args.packages, args.repeat)
    if set(args.arch) == {"amd64", "arm64"}:
        print(table(results, args.packages))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
