"""Real builds: the real engine (buildx + QEMU for arm64) and the real PyPI.

For a native amd64 and an emulated arm64 bookworm target, one build run each makes
crcmod (C extension, sdist only), docopt (pure Python, sdist only) and cffi (forced
from source, needs libffi-dev). The arm64 build is forced to ``emulate``: this is the
QEMU path (cross builds are test_cross.py's, which compares its wheels with these). The
wheels are checked for their tags and ELF machine, installed and imported in a fresh
container of the target, and a second build must start no buildx run. The builds are
made once per session (``shared_builds``, conftest.py); wheelhouse caches live in a
pytest tmp dir; BuildKit's own cache is left alone, so a warm toolchain stage is reused.
"""

from __future__ import annotations

import struct
import subprocess
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from packaging.utils import parse_wheel_filename

from orchestrator.targets import Target

if TYPE_CHECKING:  # pytest hands the fixtures in; conftest is not importable as such
    from tests.integration.conftest import BuiltSet, SetBuilder

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


@pytest.fixture(scope="module", params=["amd64", "arm64"])
def run(request: pytest.FixtureRequest, shared_builds: SetBuilder) -> BuiltSet:
    """arm64 is built under QEMU (``emulate``, the path of issue 3; cross builds have
    test_cross.py, which compares its wheels with these); amd64 natively."""
    arch: str = request.param
    built = shared_builds(arch, "emulate" if arch == "arm64" else "auto")
    assert built.plan.target == TARGETS[arch]
    assert {p.name: p.action for p in built.plan.packages} == {
        "cffi": "build",
        "crcmod": "build",
        "docopt": "build",
        "pycparser": "download",
    }
    modes = {a.build_mode for a in built.first.artifacts if a.origin == "built"}
    assert modes == {"emulate" if arch == "arm64" else "native"}
    return built


def test_everything_was_built(run: BuiltSet) -> None:
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


def test_platform_wheels_carry_the_targets_manylinux_tag(run: BuiltSet) -> None:
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


def test_every_elf_object_is_for_the_targets_cpu(run: BuiltSet) -> None:
    for name in ("crcmod", "cffi"):
        machines = elf_machines(run.built(name))
        assert machines, f"{name}: no ELF object in the wheel"
        assert set(machines.values()) == {E_MACHINE[run.arch]}, machines
    assert elf_machines(run.built("docopt")) == {}


def test_the_wheels_install_and_import_in_a_fresh_target_container(
    run: BuiltSet, tmp_path: Path
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


def test_a_second_build_starts_no_buildx_run(run: BuiltSet) -> None:
    assert run.engine.buildx_runs == 1
    assert run.second.build_seconds == 0.0
    assert run.second.failures == ()
    built = [a for a in run.second.artifacts if a.origin == "built"]
    assert [a.cached for a in built] == [True, True, True]
    assert {a.path for a in built} == {a.path for a in run.first.artifacts if a.origin == "built"}
    nothing = [e for e in run.events if e.kind == "nothing-to-build"]
    assert [e.message for e in nothing] == ["nothing to build: 3 wheel(s) from the build cache"]
