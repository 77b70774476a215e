"""32-bit Raspberry Pi OS (armv7l) built for real: crcmod, netifaces and cffi, cross and QEMU.

Two ``wheelhouse build --verify`` runs (the CLI, the real engine and PyPI), each from a
cold wheelhouse cache of its own, of crcmod 1.7, netifaces 0.11.0 and cffi 1.17.1 (forced:
it has armv7l wheels) for cp311-manylinux_2_36_armv7l in the local armhf image
(``scripts/setup.sh`` builds it):

- ``build_mode: cross``: cross-compiled on the build machine with Debian's
  gcc-arm-linux-gnueabihf and the armhf ``libffi-dev``, each wheel checked on the target
  under QEMU;
- ``build_mode: emulate``: the same sdists built under QEMU in the armhf image (its
  toolchain stage runs apt under qemu-arm: about 40 s cold, a BuildKit layer after that).

Each run's wheels are installed offline in a fresh armhf container, where every module
imports and each package's ``test`` command exercises its C code (a CRC, the interface
list, a libffi call). Every ELF object of both runs' wheels is 32-bit ARM, EABI5,
hard-float (cffi's bundled libffi too), and the cross-built wheels have the QEMU-built
ones' names, file lists and undefined symbols per ELF object.
``scripts/bench_cross.py --arch armv7`` builds the larger set (cffi, netifaces, psutil)
in all three modes.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from elftools.elf.elffile import ELFFile

if TYPE_CHECKING:  # pytest hands the fixtures in; conftest is not importable as such
    from tests.integration.conftest import WheelReader

pytestmark = [pytest.mark.engine, pytest.mark.network]

TARGET = "cp311-manylinux_2_36_armv7l"
ARMHF_IMAGE = "wheelhouse-test/python:3.11-bookworm-armhf"
AMD64_IMAGE = "wheelhouse-test/python:3.11-bookworm-amd64"
EF_ARM_ABI_FLOAT_HARD = 0x400
EF_ARM_EABIMASK = 0xFF000000
EF_ARM_EABI_VER5 = 0x05000000
CONFIG = """requirements: requirements.txt
output: out
targets:
  - id: {target}
    base_image: {base_image}
    system_packages: [python3-dev, libffi-dev]
    cross_image: {cross_image}
    build_mode: {mode}
build:
  force_build: [cffi]
packages:
  crcmod:
    imports: [crcmod, crcmod._crcfunext]   # the pure-Python fallback would import alone
    test: >-
      python -c "import crcmod.predefined as p;
      assert p.mkCrcFun('crc-32')(b'123456789') == 0xCBF43926"
  netifaces:
    test: python -c "import netifaces; assert 'lo' in netifaces.interfaces()"
  cffi:
    test: >-
      python -c "import cffi; f = cffi.FFI(); f.cdef('int abs(int);');
      assert f.dlopen(None).abs(-7) == 7"
"""
PINS = "crcmod==1.7\nnetifaces==0.11.0\ncffi==1.17.1\npycparser==2.22\n"
BUILT = ["cffi", "crcmod", "netifaces"]


@dataclass(frozen=True)
class Run:
    mode: str
    code: int
    report: dict[str, Any]
    err: str
    wheelhouse: Path
    cache: Path
    seconds: float

    @property
    def built(self) -> dict[str, dict[str, Any]]:
        (target,) = self.report["targets"]
        return {b["name"]: b for b in target["built"]}

    def wheel(self, name: str) -> Path:
        (found,) = sorted(self.wheelhouse.glob(f"{name}-*.whl"))
        return found


def build(tmp: Path, mode: str) -> Run:
    """``wheelhouse build --json --verify`` in ``tmp``, with a cold cache of its own."""
    config = CONFIG.format(
        target=TARGET, base_image=ARMHF_IMAGE, cross_image=AMD64_IMAGE, mode=mode
    )
    (tmp / "requirements.txt").write_text(PINS, encoding="utf-8")
    (tmp / "wheelhouse.yaml").write_text(config, encoding="utf-8")
    env = {**os.environ, "WHEELHOUSE_CACHE_DIR": str(tmp / "cache")}
    args = [sys.executable, "-m", "orchestrator.cli", "build", "-c", "wheelhouse.yaml"]
    start = time.monotonic()
    done = subprocess.run(
        [*args, "--json", "--verify"], cwd=tmp, env=env, capture_output=True, text=True,
        timeout=1800, check=False,
    )  # fmt: skip
    seconds = time.monotonic() - start
    report = json.loads(done.stdout) if done.stdout.strip() else {}
    wheelhouse = tmp / "out" / TARGET
    return Run(mode, done.returncode, report, done.stderr, wheelhouse, tmp / "cache", seconds)


@pytest.fixture(scope="module")
def cross_build(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return build(tmp_path_factory.mktemp("armv7-cross"), "cross")


@pytest.fixture(scope="module")
def qemu_build(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The same sdists under QEMU: one build of each, for the comparison and verify."""
    return build(tmp_path_factory.mktemp("armv7-qemu"), "emulate")


@pytest.fixture(params=["cross", "emulate"])
def either(request: pytest.FixtureRequest) -> Run:
    run: Run = request.getfixturevalue("cross_build" if request.param == "cross" else "qemu_build")
    return run


def test_crcmod_netifaces_and_cffi_are_built_and_verified_in_a_clean_armhf_container(
    either: Run,
) -> None:
    run = either
    assert run.code == 0, run.err[-3000:]
    assert {n: b["build_mode"] for n, b in run.built.items()} == dict.fromkeys(BUILT, run.mode)
    assert {b["fallback_reason"] for b in run.built.values()} == {None}
    for name in BUILT:
        assert run.wheel(name).name.endswith("manylinux_2_36_armv7l.whl"), run.wheel(name)
    (verified,) = run.report["verify"]["targets"]
    assert verified["ok"], verified
    packages = {p["name"]: p for p in verified["packages"]}
    assert packages["crcmod"]["imports"] == {"crcmod": "ok", "crcmod._crcfunext": "ok"}
    assert packages["cffi"]["imports"] == {"_cffi_backend": "ok", "cffi": "ok"}
    assert packages["netifaces"]["imports"] == {"netifaces": "ok"}
    for name in BUILT:
        assert packages[name]["test"]["ok"], packages[name]["test"]
    (target,) = run.report["targets"]
    each = ", ".join(f"{n} {b['seconds'] or 0:.1f}s" for n, b in sorted(run.built.items()))
    print(
        f"\narmv7l {run.mode}: build --verify {run.seconds:.1f}s, "
        f"buildx {target['seconds']:.1f}s; {each}"
    )


@pytest.mark.parametrize("name", BUILT)
def test_every_elf_object_is_32_bit_arm_eabi5_hard_float(either: Run, name: str) -> None:
    seen = []
    with zipfile.ZipFile(either.wheel(name)) as archive:
        for member in archive.namelist():
            data = archive.read(member)
            if not data.startswith(b"\x7fELF"):
                continue
            elf = ELFFile(io.BytesIO(data))
            assert elf.elfclass == 32, member
            assert elf["e_machine"] == "EM_ARM", member
            assert elf["e_flags"] & EF_ARM_EABIMASK == EF_ARM_EABI_VER5, member
            assert elf["e_flags"] & EF_ARM_ABI_FLOAT_HARD, member
            seen.append(member)
    assert seen, name
    if name == "crcmod":
        assert seen == ["crcmod/_crcfunext.cpython-311-arm-linux-gnueabihf.so"], seen
    if name == "cffi":  # auditwheel vendored the armhf libffi beside the extension
        assert any(m.startswith("cffi.libs/libffi") for m in seen), seen


def test_cross_and_qemu_wheels_have_the_same_names_files_and_undefined_symbols(
    cross_build: Run, qemu_build: Run, wheel_reader: WheelReader
) -> None:
    assert (cross_build.code, qemu_build.code) == (0, 0), qemu_build.err[-3000:]
    pairs = [(cross_build.wheel(n), qemu_build.wheel(n)) for n in BUILT]
    wheel_reader.assert_same_builds(pairs, cross_build.cache)
    symbols = wheel_reader.undefined_symbols([c for c, _ in pairs], cross_build.cache)
    for wheel, objects in symbols.items():  # not vacuous: every object needs something
        assert objects and all(objects.values()), wheel
