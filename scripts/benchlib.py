"""What scripts/bench_build.py and scripts/bench_cross.py share: the real builder on the
local test images (``make setup``), one package per buildx run with a fresh wheelhouse
cache, and the median of the runs.

A column of figures is an architecture built in one mode; each bench names its columns.
BuildKit's cache is kept between runs: a warm-up build per column first puts the
toolchain and tools stages in it, so a package's time is its own stage's.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name
from packaging.version import Version

from orchestrator.build.builder import build_target
from orchestrator.build.cache import BuildCache
from orchestrator.build.engine import DockerEngine
from orchestrator.build.requires import ResolvedWheels, UvCompiler, resolve_wheels
from orchestrator.config import BuildMode, PackageManager, TargetConfig
from orchestrator.knowledge import Knowledge
from orchestrator.model import Artifact, BuildModeName, Pin, TargetPlan
from orchestrator.plan.modes import BuildModes
from orchestrator.plan.planner import plan_target
from orchestrator.pypi.downloads import Downloader
from orchestrator.pypi.index import IndexClient, IndexConfig
from orchestrator.targets import Target


@dataclass(frozen=True)
class Images:
    """The local test images of one C library, their targets and how they get a compiler."""

    images: Mapping[str, str]
    targets: Mapping[str, str]
    package_manager: PackageManager
    #: What the integration tests' toolchain stage installs too (one BuildKit layer for both).
    system_packages: tuple[str, ...]


#: Debian bookworm, Python 3.11 (scripts/build-test-images.sh).
GLIBC = Images(
    images={
        "amd64": "wheelhouse-test/python:3.11-bookworm-amd64",
        "arm64": "wheelhouse-test/python:3.11-bookworm-arm64",
        "armhf": "wheelhouse-test/python:3.11-bookworm-armhf",
    },
    targets={
        "amd64": "cp311-manylinux_2_36_x86_64",
        "arm64": "cp311-manylinux_2_36_aarch64",
        "armhf": "cp311-manylinux_2_36_armv7l",
    },
    package_manager="apt",
    system_packages=("python3-dev", "libffi-dev"),
)
#: musl CPython 3.13 with musl-gcc, the python:3.13-alpine stand-ins (build-musl-images.sh).
MUSL = Images(
    images={
        "amd64": "wheelhouse-test/musl-python:3.13-amd64",
        "arm64": "wheelhouse-test/musl-python:3.13-arm64",
    },
    targets={"amd64": "cp313-musllinux_1_2_x86_64", "arm64": "cp313-musllinux_1_2_aarch64"},
    package_manager="none",
    system_packages=(),
)
LIBCS = {"glibc": GLIBC, "musl": MUSL}
VERSIONS = {
    "cffi": "1.17.1",
    "crcmod": "1.7",
    "psutil": "6.1.1",
    "netifaces": "0.11.0",
    "docopt": "0.6.2",
    "uwsgi": "2.0.28",
    "psycopg2": "2.9.10",
}
#: A package's own system packages (the knowledge file is left out of the bench), after
#: the images' own: the toolchain layer is then the one tests/integration/test_cross.py
#: builds psycopg2 with. Debian only: the musl images have no package manager.
OWN_SYSTEM_PACKAGES = {"psycopg2": ("libpq-dev",)}
#: Built from source even where PyPI has a wheel for the target.
FORCED = frozenset({"cffi", "psutil"})
#: Built first in each column, to put the toolchain and tools stages in BuildKit's cache.
WARM_UP = "docopt"


@dataclass(frozen=True)
class Column:
    """One column of figures: the target's architecture, the mode asked of the builder,
    and how its wheels must come out built (anything else stops the bench)."""

    arch: str
    mode: BuildMode
    built: BuildModeName


NATIVE = Column(arch="amd64", mode="auto", built="native")
CROSS = Column(arch="arm64", mode="cross", built="cross")
EMULATE = Column(arch="arm64", mode="emulate", built="emulate")


@dataclass(frozen=True)
class Timing:
    #: BuildKit's time for the package's build stage.
    stage: float
    #: The whole ``build_target`` call.
    wall: float
    #: A cross-built wheel's check on the target (under QEMU); ``None`` for other builds.
    check: float | None = None


class Bench:
    """Builds one package for one column with the real engine, index and uv.

    ``knowledge``: the system packages file; ``None`` is the one packaged with wheelhouse.
    ``images``: the glibc (Debian) or musl test images.
    """

    def __init__(
        self,
        work: Path,
        columns: Mapping[str, Column],
        knowledge: Knowledge | None = None,
        images: Images = GLIBC,
    ) -> None:
        self.work = work
        self.columns = columns
        self.knowledge = knowledge
        self.images = images
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

    def own_packages(self, name: str) -> tuple[str, ...]:
        own = OWN_SYSTEM_PACKAGES.get(name, ())
        if own and self.images.package_manager != "apt":
            sys.exit(f"{name} needs {', '.join(own)}: the Debian (glibc) images only")
        return own

    def build(self, column: str, name: str) -> Timing:
        """One package, one buildx run, a fresh wheelhouse cache (BuildKit's is kept)."""
        return self.build_wheel(column, name)[0]

    def build_wheel(self, column: str, name: str) -> tuple[Timing, Artifact]:
        """``build``, with the built wheel (in this bench's work directory)."""
        spec = self.columns[column]
        images = self.images
        target = Target.parse(images.targets[spec.arch])
        tcfg = TargetConfig(
            target=target,
            base_image=images.images[spec.arch],
            runtime_image=images.images[spec.arch],
            package_manager=images.package_manager,
            system_packages=images.system_packages + self.own_packages(name),
            cross_image=images.images["amd64"],
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
            modes=BuildModes(override=spec.mode),
            knowledge=self.knowledge,
        )
        wall = time.monotonic() - start
        if built.failures:
            failure = built.failures[0]
            sys.exit(f"{column} {name}: {failure.reason}\n{failure.log_tail}")
        artifact = _built(built.artifacts)
        if artifact.build_mode != spec.built or artifact.fallback_reason:
            sys.exit(f"{column} {name}: built {artifact.build_mode} ({artifact.fallback_reason})")
        assert artifact.build_seconds is not None
        timing = Timing(stage=artifact.build_seconds, wall=wall, check=artifact.check_seconds)
        return timing, artifact


def _built(artifacts: Sequence[Artifact]) -> Artifact:
    (artifact,) = [a for a in artifacts if a.origin == "built" and not a.cached]
    return artifact


def median(timings: Sequence[Timing]) -> Timing:
    """Each figure's median; a check's over the runs that had one."""
    checks = [t.check for t in timings if t.check is not None]
    return Timing(
        stage=statistics.median(t.stage for t in timings),
        wall=statistics.median(t.wall for t in timings),
        check=statistics.median(checks) if checks else None,
    )


def measure(
    build: Callable[[str, str], Timing],
    columns: Sequence[str],
    packages: Sequence[str],
    repeat: int,
) -> dict[tuple[str, str], Timing]:
    """(column, package) -> the median of ``repeat`` builds, after a warm-up per column;
    ``build`` is ``Bench.build``."""
    results: dict[tuple[str, str], Timing] = {}
    for column in columns:
        print(f"[bench] {column}: warm-up ({WARM_UP}: toolchain and tools into BuildKit's cache)")
        build(column, WARM_UP)
        for name in packages:
            timings = [build(column, name) for _ in range(repeat)]
            results[column, name] = median(timings)
            found = results[column, name]
            check = f", check on the target {found.check:.1f}s" if found.check else ""
            print(f"[bench] {column} {name}: {found.stage:.1f}s stage{check}", flush=True)
    return results
