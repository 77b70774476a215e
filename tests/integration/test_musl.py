"""musllinux for real: python:3.x-alpine's stand-ins, the planner's tags and the whole pipeline.

The images are wheelhouse-test/musl-python:3.13-{amd64,arm64} (scripts/build-musl-images.sh):
CPython 3.13 linked against musl 1.2.5, musl-gcc as CC, no apk, hence ``package_manager:
none`` in tests/data/musl/wheelhouse.yaml. For each of cp313-musllinux_1_2_aarch64
(cross-compiled on this machine: its ``cross_image`` is the amd64 image) and
cp313-musllinux_1_2_x86_64 (native), ONE ``run_build`` (plan -> build -> collect ->
verify, real PyPI, real engine; output and WHEELHOUSE_CACHE_DIR in a tmp dir) builds
crcmod, netifaces and psutil (no musllinux wheel on PyPI) and cffi (forced from source),
and every test of that architecture reads the same run. One more aarch64 run builds the
same sdists under QEMU (``--mode emulate``): the cross-built wheels must have the same
names, files and undefined symbols. BuildKit's own cache is left alone, so a warm
toolchain/tools stage is reused; the package stages always run.
"""

from __future__ import annotations

import dataclasses
import json
import re
import struct
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import docker  # type: ignore[import-untyped]
import docker.errors  # type: ignore[import-untyped]
import packaging
import pytest
from packaging.utils import parse_wheel_filename

from orchestrator.config import BuildMode, TargetConfig, load_config
from orchestrator.pipeline import BuildOptions, BuildRun, run_build
from orchestrator.session import Session
from orchestrator.targets import Arch, Target
from tests.integration.progress import Progress

if TYPE_CHECKING:  # pytest hands the fixtures in; conftest is not importable as such
    from tests.integration.conftest import WheelReader

CONFIG = Path(__file__).resolve().parents[1] / "data" / "musl" / "wheelhouse.yaml"
ARM64 = Target.parse("cp313-musllinux_1_2_aarch64")
X86_64 = Target.parse("cp313-musllinux_1_2_x86_64")
TARGETS = (ARM64, X86_64)
BUILT = ("cffi", "crcmod", "netifaces", "psutil")
DOWNLOADED = ("pycparser",)
#: Top-level modules verify must import (cffi's C extension is a top-level module).
MODULES = {"_cffi_backend", "cffi", "crcmod", "netifaces", "psutil", "pycparser"}
E_MACHINE = {Arch.AARCH64: 0xB7, Arch.X86_64: 0x3E}
PROGRESS = Progress()
#: Where the host's packaging is mounted in the tags container (the images have none).
PACKAGING_MOUNT = "/opt/wheelhouse-packaging"
SYS_TAGS = (
    "import json, packaging, packaging.tags\n"
    "print(json.dumps({'packaging': packaging.__file__,"
    " 'tags': [str(t) for t in packaging.tags.sys_tags()]}))\n"
)
#: Beyond verify's imports: crcmod silently falls back to pure Python when its extension
#: fails to load, and cffi must load the libffi auditwheel vendored, not a system one.
WORKS = """
import json, os, platform, sysconfig
import crcmod.predefined, netifaces, psutil, cffi
from crcmod.crcmod import _usingExtension
assert _usingExtension, "crcmod fell back to pure Python"
assert crcmod.predefined.mkCrcFun("crc-32")(b"123456789") == 0xCBF43926
assert "lo" in netifaces.interfaces()
assert psutil.Process().pid == os.getpid() and psutil.cpu_count() >= 1
ffi = cffi.FFI()
ffi.cdef("int abs(int);")
assert ffi.dlopen(None).abs(-7) == 7
maps = open("/proc/self/maps").read()
print(json.dumps({"machine": platform.machine(), "ext": sysconfig.get_config_var("EXT_SUFFIX"),
                  "vendored_libffi": "/cffi.libs/libffi-" in maps}))
"""


# --- ELF: just enough of the format to read an object's machine, NEEDED and versions -----------

SHT_DYNAMIC = 6
SHT_GNU_VERNEED = 0x6FFFFFFE
DT_NEEDED = 1


@dataclass(frozen=True)
class Elf:
    machine: int
    needed: tuple[str, ...]
    #: (library, version) of every symbol version the object asks for, e.g. (libc.so.6, GLIBC_2.17).
    versions: tuple[tuple[str, str], ...]


def read_elf(data: bytes) -> Elf:
    """A little-endian ELF64 object (x86_64 and aarch64 are both)."""
    assert data[:6] == b"\x7fELF\x02\x01", "not a little-endian ELF64 object"
    machine = struct.unpack_from("<H", data, 18)[0]
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    # (type, offset, size, link) of each section header
    sections = [struct.unpack_from("<4xI16xQQI", data, shoff + i * shentsize) for i in range(shnum)]
    needed: list[str] = []
    versions: list[tuple[str, str]] = []
    for kind, offset, size, link in sections:
        strings = sections[link]
        text = data[strings[1] : strings[1] + strings[2]]
        if kind == SHT_DYNAMIC:
            for pos in range(offset, offset + size, 16):
                tag, value = struct.unpack_from("<qQ", data, pos)
                if tag == DT_NEEDED:
                    needed.append(_cstring(text, value))
        elif kind == SHT_GNU_VERNEED:
            versions += _verneed(data, offset, text)
    return Elf(machine=machine, needed=tuple(needed), versions=tuple(versions))


def _verneed(data: bytes, offset: int, strings: bytes) -> Iterator[tuple[str, str]]:
    while True:
        _ver, count, file, aux, following = struct.unpack_from("<HHIII", data, offset)
        at = offset + aux
        for _ in range(count):
            _hash, _flags, _other, name, next_aux = struct.unpack_from("<IHHII", data, at)
            yield _cstring(strings, file), _cstring(strings, name)
            at += next_aux
        if not following:
            return
        offset += following


def _cstring(strings: bytes, at: int) -> str:
    return strings[at : strings.index(b"\0", at)].decode()


def elf_members(wheel: Path) -> dict[str, Elf]:
    """Every ELF object in a wheel, found by its magic (vendored libs end in .so.N)."""
    with zipfile.ZipFile(wheel) as archive:
        blobs = {name: archive.read(name) for name in archive.namelist()}
    return {name: read_elf(blob) for name, blob in blobs.items() if blob[:4] == b"\x7fELF"}


def glibc_traces(elf: Elf) -> list[str]:
    found = [n for n in elf.needed if n.startswith(("libc.so", "ld-linux"))]
    return found + [f"{lib} {v}" for lib, v in elf.versions if v.startswith("GLIBC")]


# --- the engine and the images -----------------------------------------------------------------


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    try:
        engine = docker.from_env()
        engine.ping()
    except docker.errors.DockerException as exc:
        pytest.fail(f"no Docker engine answered ({exc}): run scripts/setup.sh")
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def configs(client: Any) -> dict[Target, TargetConfig]:
    """The test config's targets; their images must be there (no registry to pull from)."""
    loaded = {tc.target: tc for tc in load_config(CONFIG).targets}
    assert set(loaded) == set(TARGETS)
    for tc in loaded.values():
        try:
            client.images.get(tc.base_image)
        except docker.errors.ImageNotFound:
            pytest.fail(f"{tc.base_image} is missing: run scripts/build-musl-images.sh")
    return loaded


def run_python(client: Any, tc: TargetConfig, code: str, mounts: dict[Path, str], path: str) -> Any:
    """``python3 -c code`` in a throwaway, offline container of the target's runtime image,
    with ``mounts`` read-only and ``path`` as PYTHONPATH; returns its last line of JSON."""
    output = client.containers.run(
        tc.runtime_image,
        [tc.python, "-c", code],
        platform=tc.target.arch.docker_platform,
        network_mode="none",
        volumes={str(src): {"bind": dst, "mode": "ro"} for src, dst in mounts.items()},
        environment={"PYTHONPATH": path, "PYTHONDONTWRITEBYTECODE": "1"},
        remove=True,
        stdout=True,
        stderr=False,
    )
    return json.loads(output.decode().strip().splitlines()[-1])


# --- 1. the planner's tags are the ones packaging reports inside the image ---------------------


@pytest.mark.engine
@pytest.mark.parametrize("target", TARGETS, ids=str)
def test_the_planners_tags_are_sys_tags_inside_the_musl_image(
    client: Any, configs: dict[Target, TargetConfig], target: Target
) -> None:
    host_packaging = Path(packaging.__file__).resolve().parent
    mounts = {host_packaging: f"{PACKAGING_MOUNT}/packaging"}
    inside = run_python(client, configs[target], SYS_TAGS, mounts, PACKAGING_MOUNT)
    assert inside["packaging"].startswith(PACKAGING_MOUNT + "/")
    # packaging also lists plain linux_<arch> tags (for wheels built on that host): no
    # index serves those, and the planner leaves them out.
    tags = [t for t in inside["tags"] if not _platform(t).startswith("linux_")]
    assert tags == [str(t) for t in target.tags]
    assert tags[0] == f"cp313-cp313-musllinux_1_2_{target.arch.value}"


def _platform(tag: str) -> str:
    return tag.split("-")[2]


# --- 2. the whole pipeline, one run per architecture --------------------------------------------


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache for both runs: sdists and the HTTP cache are fetched once."""
    return tmp_path_factory.mktemp("musl-cache")


class Runs:
    """Each (target, mode) built once for the module: ``run_build`` with verify."""

    def __init__(
        self,
        tmp: pytest.TempPathFactory,
        cache_dir: Path,
        configs: dict[Target, TargetConfig],
    ) -> None:
        self.tmp, self.cache_dir, self.configs = tmp, cache_dir, configs
        self.done: dict[tuple[Target, BuildMode | None], BuildRun] = {}

    def __call__(self, target: Target, mode: BuildMode | None = None) -> BuildRun:
        if (target, mode) not in self.done:
            self.done[target, mode] = self._build(target, mode)
        return self.done[target, mode]

    def _build(self, target: Target, mode: BuildMode | None) -> BuildRun:
        output = self.tmp.mktemp(f"wheelhouse-{target.arch.docker_arch}-{mode or 'auto'}")
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("WHEELHOUSE_CACHE_DIR", str(self.cache_dir))
            session = Session.open(CONFIG, None, [target.id], [])
        assert session.cache_dir == self.cache_dir
        assert session.target_config(target) == self.configs[target]
        session = dataclasses.replace(
            session, config=dataclasses.replace(session.config, output=output)
        )
        options = BuildOptions(verify=mode is None, mode=mode)
        result = run_build(session, options, PROGRESS.say, PROGRESS.event)
        assert result.problem() is None, result.problem()
        return result


@pytest.fixture(scope="module")
def runs(
    tmp_path_factory: pytest.TempPathFactory,
    cache_dir: Path,
    configs: dict[Target, TargetConfig],
) -> Runs:
    return Runs(tmp_path_factory, cache_dir, configs)


@pytest.fixture(scope="module", params=TARGETS, ids=str)
def run(request: pytest.FixtureRequest, runs: Runs) -> BuildRun:
    target: Target = request.param
    return runs(target)


def target_of(run: BuildRun) -> Target:
    (plan,) = run.plan.targets
    return plan.target


@pytest.mark.engine
@pytest.mark.network
def test_packages_without_a_musllinux_wheel_are_planned_as_builds(run: BuildRun) -> None:
    (plan,) = run.plan.targets
    target = plan.target
    actions: dict[str, tuple[str, str]] = {p.name: (p.action, p.reason) for p in plan.packages}
    wanted = f"musllinux {target.arch.value} wheel for cp313"
    assert actions.pop("cffi") == ("build", "forced to build from source (force_build)")
    assert actions.pop("crcmod") == ("build", f"no {wanted}; sdist only")
    for name in ("netifaces", "psutil"):
        action, reason = actions.pop(name)
        assert action == "build"
        assert re.fullmatch(
            rf"no {wanted} \(\d+ wheels for other targets\); build from sdist", reason
        )
    assert {name: action for name, (action, _) in actions.items()} == {"pycparser": "download"}
    assert all(p.system_packages == () for p in plan.packages)


@pytest.mark.engine
@pytest.mark.network
def test_each_build_is_repaired_to_musllinux_1_2(run: BuildRun) -> None:
    (build,) = run.builds
    target = target_of(run)
    assert build.failures == ()
    built = {a.name: a for a in build.artifacts if a.origin == "built"}
    assert sorted(built) == list(BUILT)
    assert not any(a.cached for a in built.values())
    # arm64 builds are cross-compiled (checked on the target under QEMU), x86_64 ones native.
    mode = "native" if target.arch is Arch.X86_64 else "cross"
    assert {(a.build_mode, a.fallback_reason) for a in built.values()} == {(mode, None)}
    for artifact in built.values():
        tags = parse_wheel_filename(artifact.path.name)[3]
        assert {t.platform for t in tags} == {target.platform_tag}, artifact.path.name
        assert tags & set(target.tags), artifact.path.name


@pytest.mark.engine
@pytest.mark.network
def test_every_elf_object_is_for_the_target_and_links_musl_only(run: BuildRun) -> None:
    target = target_of(run)
    wheelhouse = run.wheelhouses[target.id].path
    musl = f"libc.musl-{target.arch.value}.so.1"
    seen: dict[str, int] = {}
    for wheel in sorted(wheelhouse.glob("*.whl")):
        for member, elf in elf_members(wheel).items():
            where = f"{wheel.name}!{member}"
            assert elf.machine == E_MACHINE[target.arch], where
            assert musl in elf.needed, f"{where}: NEEDED {elf.needed}"
            assert glibc_traces(elf) == [], where
            name = parse_wheel_filename(wheel.name)[0]
            seen[name] = seen.get(name, 0) + 1
    # crcmod, netifaces: 1 extension; psutil: 2; cffi: _cffi_backend + the vendored libffi.
    assert seen == {"cffi": 2, "crcmod": 1, "netifaces": 1, "psutil": 2}


def test_the_elf_reader_sees_glibc_where_it_is() -> None:
    """The check above is not vacuous: the host's (glibc) Python shows glibc."""
    host = read_elf(Path(sys.executable).resolve().read_bytes())
    assert "libc.so.6" in host.needed
    assert any(v.startswith("GLIBC_") for _lib, v in host.versions)


@pytest.mark.engine
@pytest.mark.network
def test_the_wheelhouse_installs_and_imports_in_a_fresh_musl_container(
    run: BuildRun, configs: dict[Target, TargetConfig]
) -> None:
    target = target_of(run)
    (report,) = run.verified
    assert report.ok, report
    assert report.image == configs[target].runtime_image
    assert sorted(p.name for p in report.packages) == sorted((*BUILT, *DOWNLOADED))
    imports = {m: r for p in report.packages for m, r in p.imports.items()}
    assert imports == dict.fromkeys(MODULES, "ok")


@pytest.mark.engine
@pytest.mark.network
def test_the_built_extensions_work_on_the_target(
    run: BuildRun, client: Any, configs: dict[Target, TargetConfig], tmp_path: Path
) -> None:
    target = target_of(run)
    site = tmp_path / "site"
    for wheel in run.wheelhouses[target.id].path.glob("*.whl"):
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(site)
    result = run_python(client, configs[target], WORKS, {site: "/opt/site"}, "/opt/site")
    assert result == {
        "machine": target.arch.value,
        "ext": f".cpython-313-{target.arch.value}-linux-musl.so",
        "vendored_libffi": True,
    }


# --- 3. cross-compiled against built under QEMU ---------------------------------------------------


@pytest.mark.engine
@pytest.mark.network
def test_cross_and_qemu_musl_wheels_have_the_same_names_files_and_undefined_symbols(
    runs: Runs, cache_dir: Path, wheel_reader: WheelReader
) -> None:
    (crossed,) = runs(ARM64).builds
    (emulated,) = runs(ARM64, "emulate").builds
    assert emulated.failures == ()
    cross_built = {str(a.name): a for a in crossed.artifacts if a.origin == "built"}
    qemu_built = {str(a.name): a for a in emulated.artifacts if a.origin == "built"}
    assert sorted(cross_built) == sorted(qemu_built) == list(BUILT)
    assert {a.build_mode for a in cross_built.values()} == {"cross"}
    assert {a.build_mode for a in qemu_built.values()} == {"emulate"}
    pairs = [(cross_built[n].path, qemu_built[n].path) for n in BUILT]
    wheel_reader.assert_same_builds(pairs, cache_dir)
    seconds = {
        n: f"{cross_built[n].build_seconds or 0:.1f}s cross, "
        f"{qemu_built[n].build_seconds or 0:.1f}s QEMU"
        for n in BUILT
    }
    print(f"\nmusl aarch64 builds: {seconds}")
