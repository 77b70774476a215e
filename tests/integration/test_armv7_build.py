"""32-bit Raspberry Pi OS (armv7l) built for real: crcmod, netifaces and cffi cross-compiled.

One ``wheelhouse build --verify`` (the CLI, the real engine and PyPI) of crcmod 1.7,
netifaces 0.11.0 and cffi 1.17.1 (forced: it has armv7l wheels) for
cp311-manylinux_2_36_armv7l in the local armhf image (``scripts/setup.sh`` builds it),
cross-compiled on the build machine with Debian's gcc-arm-linux-gnueabihf and the armhf
``libffi-dev``, each checked on the target under QEMU, then installed offline in a fresh
armhf container, where every module imports and each package's ``test`` command exercises
its C code (a CRC, the interface list, a libffi call). Every ELF object of the wheels is
32-bit ARM, hard-float, and cffi's bundled libffi is armhf too.

No QEMU build keeps the file within its time budget: a QEMU build needs an armhf
toolchain stage of its own (apt under qemu-arm), about 17 minutes cold on a bare CI
machine. The comparison with a QEMU build (same file lists, same undefined symbols) was
run once for the closing note of issue 14, and ``scripts/bench_cross.py --arch armv7``
builds the larger set (cffi, netifaces, psutil) in all three modes.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from elftools.elf.elffile import ELFFile

pytestmark = [pytest.mark.engine, pytest.mark.network]

TARGET = "cp311-manylinux_2_36_armv7l"
ARMHF_IMAGE = "wheelhouse-test/python:3.11-bookworm-armhf"
AMD64_IMAGE = "wheelhouse-test/python:3.11-bookworm-amd64"
EF_ARM_ABI_FLOAT_HARD = 0x400
CONFIG = f"""requirements: requirements.txt
output: out
targets:
  - id: {TARGET}
    base_image: {ARMHF_IMAGE}
    system_packages: [python3-dev, libffi-dev]
    cross_image: {AMD64_IMAGE}
    build_mode: cross
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
    code: int
    report: dict[str, Any]
    err: str
    wheelhouse: Path
    cache: Path

    @property
    def built(self) -> dict[str, dict[str, Any]]:
        (target,) = self.report["targets"]
        return {b["name"]: b for b in target["built"]}

    def wheel(self, name: str) -> Path:
        (found,) = sorted(self.wheelhouse.glob(f"{name}-*.whl"))
        return found


def build(tmp: Path) -> Run:
    (tmp / "requirements.txt").write_text(PINS, encoding="utf-8")
    (tmp / "wheelhouse.yaml").write_text(CONFIG, encoding="utf-8")
    env = {**os.environ, "WHEELHOUSE_CACHE_DIR": str(tmp / "cache")}
    args = [sys.executable, "-m", "orchestrator.cli", "build", "-c", "wheelhouse.yaml"]
    done = subprocess.run(
        [*args, "--json", "--verify"], cwd=tmp, env=env, capture_output=True, text=True,
        timeout=900, check=False,
    )  # fmt: skip
    report = json.loads(done.stdout) if done.stdout.strip() else {}
    return Run(done.returncode, report, done.stderr, tmp / "out" / TARGET, tmp / "cache")


@pytest.fixture(scope="module")
def cross_build(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return build(tmp_path_factory.mktemp("armv7-cross"))


def test_crcmod_netifaces_and_cffi_cross_built_are_verified_in_a_clean_armhf_container(
    cross_build: Run,
) -> None:
    run = cross_build
    assert run.code == 0, run.err[-3000:]
    assert {n: b["build_mode"] for n, b in run.built.items()} == dict.fromkeys(BUILT, "cross")
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


@pytest.mark.parametrize("name", BUILT)
def test_every_elf_object_is_32_bit_arm_hard_float(cross_build: Run, name: str) -> None:
    seen = []
    with zipfile.ZipFile(cross_build.wheel(name)) as archive:
        for member in archive.namelist():
            data = archive.read(member)
            if not data.startswith(b"\x7fELF"):
                continue
            elf = ELFFile(io.BytesIO(data))
            assert elf.elfclass == 32, member
            assert elf["e_machine"] == "EM_ARM", member
            assert elf["e_flags"] & EF_ARM_ABI_FLOAT_HARD, member
            seen.append(member)
    assert seen, name
    if name == "crcmod":
        assert seen == ["crcmod/_crcfunext.cpython-311-arm-linux-gnueabihf.so"], seen
    if name == "cffi":  # auditwheel vendored the armhf libffi beside the extension
        assert any(m.startswith("cffi.libs/libffi") for m in seen), seen
