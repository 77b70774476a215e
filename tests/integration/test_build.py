"""Real builds: the real engine (buildx + QEMU for arm64) and the real PyPI.

For a native amd64 and an emulated arm64 bookworm target, one build run each makes
crcmod (C extension, sdist only), docopt (pure Python, sdist only) and cffi (forced
from source, needs libffi-dev). The wheels are checked for their tags and ELF
machine, installed and imported in a fresh container of the target, and a second
build must start no buildx run. Wheelhouse caches live in a pytest tmp dir;
BuildKit's own cache is left alone, so a warm toolchain stage is reused.
"""

from __future__ import annotations

import struct
import subprocess
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

from orchestrator.buildcache import BuildCache
from orchestrator.builder import ProgressEvent, build_target
from orchestrator.buildreqs import ResolvedWheels, UvCompiler, resolve_wheels
from orchestrator.config import TargetConfig
from orchestrator.downloads import Downloader
from orchestrator.engine import BuildxRequest, BuildxResult, DockerEngine, LineCallback
from orchestrator.errors import EngineError
from orchestrator.index import IndexClient, IndexConfig
from orchestrator.model import Pin, TargetBuild, TargetPlan
from orchestrator.planner import plan_target
from orchestrator.targets import Target

pytestmark = [pytest.mark.engine, pytest.mark.network]

IMAGES = {
    "amd64": "wheelhouse-test/python:3.11-bookworm-amd64",
    "arm64": "wheelhouse-test/python:3.11-bookworm-arm64",
}
TARGETS = {
    "amd64": Target.parse("cp311-manylinux_2_36_x86_64"),
    "arm64": Target.parse("cp311-manylinux_2_36_aarch64"),
}
E_MACHINE = {"amd64": 0x3E, "arm64": 0xB7}
#: name, version, force_build. pycparser is cffi's dependency (downloaded, for the install).
PINS: tuple[tuple[str, str, bool], ...] = (
    ("crcmod", "1.7", False),
    ("docopt", "0.6.2", False),
    ("cffi", "1.17.1", True),
    ("pycparser", "2.22", False),
)
BUILT = ("cffi", "crcmod", "docopt")
IMPORT_CHECK = """
import platform, crcmod, crcmod._crcfunext, crcmod.predefined, docopt, cffi, _cffi_backend
ffi = cffi.FFI()
ffi.cdef("int abs(int);")
assert ffi.dlopen(None).abs(-7) == 7
from crcmod.crcmod import _usingExtension
assert _usingExtension, "crcmod fell back to pure Python"
assert crcmod.predefined.mkCrcFun("crc-32")(b"123456789") == 0xCBF43926
print("ok", platform.machine())
"""


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
class Run:
    arch: str
    first: TargetBuild
    second: TargetBuild
    engine: CountingEngine
    first_seconds: float
    events: list[ProgressEvent]

    def built(self, name: str) -> Path:
        (artifact,) = [a for a in self.first.artifacts if a.name == name]
        return artifact.path


def target_config(arch: str) -> TargetConfig:
    return TargetConfig(
        target=TARGETS[arch],
        base_image=IMAGES[arch],
        runtime_image=IMAGES[arch],
        package_manager="apt",
        system_packages=("python3-dev", "libffi-dev"),
    )


def make_plan(target: Target, index: IndexClient) -> TargetPlan:
    pins = [
        Pin(name=canonicalize_name(n), version=Version(v), force_build=force)
        for n, v, force in PINS
    ]
    return plan_target(target, pins, index.get_projects_sync([p.name for p in pins]))


@pytest.fixture(scope="module")
def engine() -> DockerEngine:
    real = DockerEngine()
    try:
        real.ping()
        for arch, image in IMAGES.items():
            real.image_digest(image, TARGETS[arch].arch.docker_platform)
    except EngineError as exc:
        pytest.fail(f"{exc}\n(run `make setup`: it starts the engine and builds the test images)")
    return real


@pytest.fixture(scope="module")
def index() -> IndexClient:
    return IndexClient(IndexConfig(), cache=None)


@pytest.fixture(scope="module", params=["amd64", "arm64"])
def run(
    request: pytest.FixtureRequest,
    engine: DockerEngine,
    index: IndexClient,
    tmp_path_factory: pytest.TempPathFactory,
) -> Run:
    arch: str = request.param
    cache = tmp_path_factory.mktemp(f"wheelhouse-cache-{arch}")
    counting = CountingEngine(engine)
    compiler = UvCompiler()

    def resolve(requirements: Sequence[str], target: Target) -> ResolvedWheels:
        return resolve_wheels(
            requirements, target, compile_for=compiler, fetch_projects=index.get_projects_sync
        )

    plan = make_plan(TARGETS[arch], index)
    assert {p.name: p.action for p in plan.packages} == {
        "cffi": "build",
        "crcmod": "build",
        "docopt": "build",
        "pycparser": "download",
    }
    events: list[ProgressEvent] = []

    def build() -> TargetBuild:
        return build_target(
            plan,
            target_config(arch),
            engine=counting,
            downloader=Downloader.for_cache(cache),
            cache=BuildCache.for_cache(cache),
            resolve=resolve,
            workdir=cache / "work",
            log_dir=cache / "logs",
            timeout=900,
            progress=events.append,
        )

    start = time.monotonic()
    first = build()
    took = time.monotonic() - start
    second = build()
    return Run(arch, first, second, counting, took, events)


def test_everything_was_built(run: Run) -> None:
    assert run.first.failures == (), [f.reason + "\n" + f.log_tail for f in run.first.failures]
    assert sorted(a.name for a in run.first.artifacts if a.origin == "built") == list(BUILT)
    assert [a.name for a in run.first.artifacts if a.origin == "pypi"] == ["pycparser"]
    print(
        f"\n{run.arch}: first build {run.first_seconds:.1f}s "
        f"(buildx {run.first.build_seconds:.1f}s); per package: "
        + ", ".join(
            f"{a.name} {a.build_seconds:.1f}s" for a in run.first.artifacts if a.origin == "built"
        )
    )


def platform_tags(wheel: Path) -> set[str]:
    return {tag.platform for tag in parse_wheel_filename(wheel.name)[3]}


def test_platform_wheels_carry_the_targets_manylinux_tag(run: Run) -> None:
    machine = TARGETS[run.arch].arch.value
    for name in ("crcmod", "cffi"):
        tags = platform_tags(run.built(name))
        assert any(t.startswith("manylinux_2_") and t.endswith(f"_{machine}") for t in tags), tags
        assert all(t.endswith(f"_{machine}") for t in tags), tags
        minor = max(int(t.split("_")[2]) for t in tags if t.startswith("manylinux_2_"))
        assert minor <= 36
    docopt = run.built("docopt").name
    assert docopt.endswith(("-py3-none-any.whl", "-py2.py3-none-any.whl")), docopt


def elf_machines(wheel: Path) -> dict[str, int]:
    """e_machine of every ELF object in the wheel, read from its header."""
    found: dict[str, int] = {}
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            head = archive.read(name)[:20]
            if head[:4] == b"\x7fELF":
                order = "<" if head[5] == 1 else ">"
                found[name] = struct.unpack(order + "H", head[18:20])[0]
    return found


def test_every_elf_object_is_for_the_targets_cpu(run: Run) -> None:
    for name in ("crcmod", "cffi"):
        machines = elf_machines(run.built(name))
        assert machines, f"{name}: no ELF object in the wheel"
        assert set(machines.values()) == {E_MACHINE[run.arch]}, machines
    assert elf_machines(run.built("docopt")) == {}


def test_the_wheels_install_and_import_in_a_fresh_target_container(
    run: Run, tmp_path: Path
) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    for artifact in run.first.artifacts:
        (wheels / artifact.path.name).write_bytes(artifact.path.read_bytes())
    # The image's own pip fills a pip-less venv (--python): ensurepip under QEMU costs ~40 s.
    script = (
        "python3 -m venv --without-pip /tmp/v && python3 -m pip --python /tmp/v/bin/python "
        "install -q --no-compile --no-index --find-links /wheels crcmod docopt cffi "
        '&& /tmp/v/bin/python -c "$CHECK"'
    )
    args = ["docker", "run", "--rm", "--network=none", "--platform"]
    args += [TARGETS[run.arch].arch.docker_platform, "-v", f"{wheels}:/wheels:ro"]
    args += ["-e", f"CHECK={IMPORT_CHECK}", IMAGES[run.arch], "sh", "-c", script]
    done = subprocess.run(args, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().splitlines()[-1] == f"ok {TARGETS[run.arch].arch.value}"


def test_a_second_build_starts_no_buildx_run(run: Run) -> None:
    assert run.engine.buildx_runs == 1
    assert run.second.build_seconds == 0.0
    assert run.second.failures == ()
    built = [a for a in run.second.artifacts if a.origin == "built"]
    assert [a.cached for a in built] == [True, True, True]
    assert {a.path for a in built} == {a.path for a in run.first.artifacts if a.origin == "built"}
    nothing = [e for e in run.events if e.kind == "nothing-to-build"]
    assert [e.message for e in nothing] == ["nothing to build: 3 wheel(s) from the build cache"]
