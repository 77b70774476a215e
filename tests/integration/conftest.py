"""Fixtures shared by the integration tests.

``example_arm64_build`` is the most expensive thing in the suite: the shipped example
(examples/pi-backend) planned, built for linux/arm64 (five sdists, under QEMU unless
the builder cross-compiles), collected and verified in a clean arm64 container, with
the real engine and the real PyPI. It runs once per session; every test that needs
facts about a real example build (wheelhouse layout, psycopg2's build requirements ...)
asserts on this one run instead of building again.
"""

from __future__ import annotations

import json
import subprocess
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

from orchestrator.build.builder import build_target
from orchestrator.build.cache import BuildCache
from orchestrator.build.engine import BuildxRequest, BuildxResult, DockerEngine, LineCallback
from orchestrator.build.progress import ProgressEvent
from orchestrator.build.requires import ResolvedWheels, UvCompiler, resolve_wheels
from orchestrator.config import BuildMode, TargetConfig
from orchestrator.errors import EngineError
from orchestrator.model import Pin, TargetBuild, TargetPlan
from orchestrator.pipeline import BuildOptions, BuildRun, run_build
from orchestrator.plan.modes import BuildModes
from orchestrator.plan.planner import SystemPackagesFor, plan_target
from orchestrator.pypi.downloads import Downloader
from orchestrator.pypi.index import IndexClient, IndexConfig
from orchestrator.session import Session
from orchestrator.targets import Target

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_CONFIG = REPO / "examples" / "pi-backend" / "wheelhouse.local.yaml"


@dataclass(frozen=True, kw_only=True)
class ExampleBuild:
    """One ``run_build`` of the example with ``--verify``, and what it reported."""

    session: Session
    run: BuildRun
    #: The output root (the session's ``config.output``), in a session tmp dir.
    output: Path
    #: ``WHEELHOUSE_CACHE_DIR`` of the run: downloads, the build cache, logs.
    cache_dir: Path
    seconds: float
    events: tuple[ProgressEvent, ...]
    #: What the pipeline said (the lines ``wheelhouse build`` prints).
    messages: tuple[str, ...]

    @property
    def target_id(self) -> str:
        (target,) = self.session.targets
        return target.target.id

    @property
    def wheelhouse(self) -> Path:
        """``<output>/<target-id>``: the published symlink."""
        return self.output / self.target_id


@pytest.fixture(scope="session")
def example_arm64_build(tmp_path_factory: pytest.TempPathFactory) -> ExampleBuild:
    """examples/pi-backend/wheelhouse.local.yaml, --arch arm64, built and verified once.

    Output and cache live in a session tmp dir (the config and the environment are left
    alone), so the run starts from an empty wheelhouse cache; BuildKit's own cache (the
    toolchain stage) is shared with the machine.
    """
    root = tmp_path_factory.mktemp("example-arm64")
    opened = Session.open(EXAMPLE_CONFIG, None, [], ["arm64"])
    session = replace(
        opened,
        config=replace(opened.config, output=root / "wheelhouse", cache_dir=root / "cache"),
        cache_dir=root / "cache",
    )
    events: list[ProgressEvent] = []
    messages: list[str] = []
    start = time.monotonic()
    run = run_build(session, BuildOptions(verify=True), messages.append, events.append)
    return ExampleBuild(
        session=session,
        run=run,
        output=session.config.output,
        cache_dir=session.cache_dir,
        seconds=time.monotonic() - start,
        events=tuple(events),
        messages=tuple(messages),
    )


# --- the test set, built once per session and (architecture, build mode) ------------------------
# Several modules assert on the same real builds: test_build.py on the QEMU and native ones,
# test_cross.py compares its cross-built wheels with the QEMU-built ones. QEMU builds are the
# expensive part of the suite (CI has 2 cores), so each is made once.

TEST_IMAGES = {
    "amd64": "wheelhouse-test/python:3.11-bookworm-amd64",
    "arm64": "wheelhouse-test/python:3.11-bookworm-arm64",
}
TEST_TARGETS = {
    "amd64": Target.parse("cp311-manylinux_2_36_x86_64"),
    "arm64": Target.parse("cp311-manylinux_2_36_aarch64"),
}
#: Every arm64 test build uses these, so the QEMU toolchain stage is one BuildKit layer.
TEST_SYSTEM_PACKAGES = ("python3-dev", "libffi-dev")
#: name, version, force_build. pycparser is cffi's dependency (downloaded, for the install).
TEST_SET: tuple[tuple[str, str, bool], ...] = (
    ("crcmod", "1.7", False),
    ("docopt", "0.6.2", False),
    ("cffi", "1.17.1", True),
    ("pycparser", "2.22", False),
)


class CountingEngine:
    """The real engine, counting buildx runs."""

    def __init__(self, inner: DockerEngine) -> None:
        self.inner = inner
        self.buildx_runs = 0

    def ping(self) -> None:
        self.inner.ping()

    def image_digest(self, image: str, platform: str) -> str:
        return self.inner.image_digest(image, platform)

    def buildx_build(self, request: BuildxRequest, on_line: LineCallback) -> BuildxResult:
        self.buildx_runs += 1
        return self.inner.buildx_build(request, on_line)


@dataclass
class BuiltSet:
    """``build_target`` of the test set, twice: ``second`` must come from the build cache."""

    arch: str
    mode: BuildMode
    plan: TargetPlan
    first: TargetBuild
    second: TargetBuild
    engine: CountingEngine
    first_seconds: float
    events: list[ProgressEvent]
    #: The run's wheelhouse cache: ``files/`` (downloads), ``built/``, ``logs/``.
    cache: Path

    def built(self, name: str) -> Path:
        (artifact,) = [a for a in self.first.artifacts if a.name == name]
        return artifact.path


def set_target_config(arch: str) -> TargetConfig:
    return TargetConfig(
        target=TEST_TARGETS[arch],
        base_image=TEST_IMAGES[arch],
        runtime_image=TEST_IMAGES[arch],
        package_manager="apt",
        system_packages=TEST_SYSTEM_PACKAGES,
    )


class SetBuilder:
    """Builds the test set for an architecture and mode once per session; the real engine
    (``engine`` marker) and the real PyPI (``network``)."""

    def __init__(self, tmp: pytest.TempPathFactory) -> None:
        self.tmp = tmp
        self.runs: dict[tuple[str, BuildMode], BuiltSet] = {}
        self.index = IndexClient(IndexConfig(), cache=None)
        self.compiler = UvCompiler()

    def resolve(self, requirements: Sequence[str], target: Target) -> ResolvedWheels:
        return resolve_wheels(
            requirements,
            target,
            compile_for=self.compiler,
            fetch_projects=self.index.get_projects_sync,
        )

    def plan(
        self,
        target: Target,
        pins: Sequence[tuple[str, str, bool]],
        system_packages: SystemPackagesFor | None = None,
    ) -> TargetPlan:
        """The planner's plan of ``pins`` from the index; ``system_packages`` as the CLI
        passes it (the knowledge file's), or none."""
        wanted = [
            Pin(name=canonicalize_name(n), version=Version(v), force_build=force)
            for n, v, force in pins
        ]
        projects = self.index.get_projects_sync([p.name for p in wanted])
        if system_packages is None:
            return plan_target(target, wanted, projects)
        return plan_target(target, wanted, projects, system_packages=system_packages)

    def counting_engine(self) -> CountingEngine:
        return CountingEngine(ready_engine())

    def __call__(self, arch: str, mode: BuildMode) -> BuiltSet:
        if (arch, mode) not in self.runs:
            self.runs[arch, mode] = self.build(arch, mode)
        return self.runs[arch, mode]

    def build(self, arch: str, mode: BuildMode) -> BuiltSet:
        cache = self.tmp.mktemp(f"test-set-{arch}-{mode}")
        plan = self.plan(TEST_TARGETS[arch], TEST_SET)
        twice = self.build_twice(plan, set_target_config(arch), cache, BuildModes(override=mode))
        return BuiltSet(
            arch=arch,
            mode=mode,
            plan=plan,
            first=twice.first,
            second=twice.second,
            engine=twice.engine,
            first_seconds=twice.seconds,
            events=twice.events,
            cache=cache,
        )

    def build_twice(
        self, plan: TargetPlan, tcfg: TargetConfig, cache: Path, modes: BuildModes
    ) -> Twice:
        """``build_target`` of ``plan`` twice with the real engine, in ``cache``: the second
        run must take everything from the build cache."""
        engine = self.counting_engine()
        events: list[ProgressEvent] = []

        def build() -> TargetBuild:
            return build_target(
                plan,
                tcfg,
                engine=engine,
                downloader=Downloader.for_cache(cache),
                cache=BuildCache.for_cache(cache),
                resolve=self.resolve,
                workdir=cache / "work",
                log_dir=cache / "logs",
                timeout=900,
                progress=events.append,
                modes=modes,
            )

        start = time.monotonic()
        first = build()
        seconds = time.monotonic() - start
        runs = engine.buildx_runs
        second = build()
        return Twice(first, second, engine, (runs, engine.buildx_runs - runs), seconds, events)


@dataclass
class Twice:
    first: TargetBuild
    second: TargetBuild
    engine: CountingEngine
    #: buildx runs of the first and of the second build.
    buildx_runs: tuple[int, int]
    seconds: float
    events: list[ProgressEvent]


def ready_engine() -> DockerEngine:
    """The real engine, with the local test images present (else: how to get them)."""
    real = DockerEngine()
    try:
        real.ping()
        for arch, image in TEST_IMAGES.items():
            real.image_digest(image, TEST_TARGETS[arch].arch.docker_platform)
    except EngineError as exc:
        pytest.fail(f"{exc}\n(run `make setup`: it starts the engine and builds the test images)")
    return real


@pytest.fixture(scope="session")
def shared_builds(tmp_path_factory: pytest.TempPathFactory) -> SetBuilder:
    return SetBuilder(tmp_path_factory)


# --- reading built wheels: file lists and undefined symbols ---------------------------------------

UNDEFINED = """
import json, sys, tempfile
from pathlib import Path
sys.path[:0] = [sys.argv[1], "/check"]
import wheelcheck
found = {}
for wheel in map(Path, sys.argv[2:]):
    with tempfile.TemporaryDirectory() as temp:
        site = Path(temp)
        objects = wheelcheck.elf_objects(site, wheelcheck.unpack([wheel], site))
        found[wheel.name] = {
            p.relative_to(site).as_posix(): sorted(
                wheelcheck.symbol_text(s) for s in wheelcheck.Elf.read(p).undefined
            )
            for p in objects
        }
print(json.dumps(found))
"""


class WheelReader:
    """What cross and QEMU builds are compared by: members and undefined symbols."""

    @staticmethod
    def members(wheel: Path) -> list[str]:
        with zipfile.ZipFile(wheel) as archive:
            return sorted(archive.namelist())

    @staticmethod
    def undefined_symbols(wheels: Sequence[Path], cache: Path) -> dict[str, dict[str, list[str]]]:
        """Undefined dynamic symbols per ELF object of each wheel, read with wheelcheck and
        the pyelftools wheel a cross build downloaded into ``cache``, natively in the amd64
        test image (only ELF files are read: glibc or musl wheels alike)."""
        (elftools,) = sorted(cache.glob("files/*/pyelftools-*.whl"))[-1:]
        args = ["docker", "run", "--rm", "--network=none", "--platform", "linux/amd64"]
        args += [
            "-v",
            f"{elftools}:/elftools.whl:ro",
            "-v",
            f"{REPO / 'orchestrator' / 'build'}:/check:ro",
        ]
        mounts = []
        for index, wheel in enumerate(wheels):
            args += ["-v", f"{wheel}:/w/{index}/{wheel.name}:ro"]
            mounts.append(f"/w/{index}/{wheel.name}")
        args += [TEST_IMAGES["amd64"], "python3", "-c", UNDEFINED, "/elftools.whl", *mounts]
        done = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stderr
        result: dict[str, dict[str, list[str]]] = json.loads(done.stdout)
        return result

    def assert_same_builds(self, pairs: Sequence[tuple[Path, Path]], cache: Path) -> None:
        """Each (cross, emulated) pair: the same wheel name, files and undefined symbols."""
        for crossed, emulated in pairs:
            assert crossed.name == emulated.name
            assert self.members(crossed) == self.members(emulated), crossed.name
        found = self.undefined_symbols([c for c, _ in pairs], cache)
        expected = self.undefined_symbols([e for _, e in pairs], cache)
        assert found.keys() == expected.keys()
        for wheel in found:
            assert found[wheel] == expected[wheel], wheel


@pytest.fixture(scope="session")
def wheel_reader() -> WheelReader:
    return WheelReader()
