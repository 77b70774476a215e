"""32-bit Raspberry Pi OS (armv7l) built for real: crcmod cross-compiled and verified.

One ``wheelhouse build --verify`` (the CLI, the real engine and PyPI) of crcmod 1.7 for
cp311-manylinux_2_36_armv7l in the local armhf image (``scripts/setup.sh`` builds it),
cross-compiled on the build machine with Debian's gcc-arm-linux-gnueabihf, checked on the
target under QEMU, then installed offline and imported, C extension included, in a fresh
armhf container. Every ELF object of the wheel is 32-bit ARM, hard-float.

One small package and no QEMU build keep the file within its time budget: a QEMU build
needs an armhf toolchain stage of its own (apt under qemu-arm), minutes on a bare CI
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
    system_packages: [python3-dev]
    cross_image: {AMD64_IMAGE}
    build_mode: cross
packages:
  crcmod:
    imports: [crcmod, crcmod._crcfunext]   # the pure-Python fallback would import alone
"""


@dataclass(frozen=True)
class Run:
    code: int
    report: dict[str, Any]
    err: str
    wheelhouse: Path
    cache: Path

    @property
    def built(self) -> dict[str, Any]:
        (target,) = self.report["targets"]
        (built,) = target["built"]
        return dict(built)

    @property
    def wheel(self) -> Path:
        (found,) = sorted(self.wheelhouse.glob("crcmod-*.whl"))
        return found


def build(tmp: Path) -> Run:
    (tmp / "requirements.txt").write_text("crcmod==1.7\n", encoding="utf-8")
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


def test_crcmod_cross_built_is_checked_and_verified_in_a_clean_armhf_container(
    cross_build: Run,
) -> None:
    run = cross_build
    assert run.code == 0, run.err[-3000:]
    assert (run.built["name"], run.built["build_mode"]) == ("crcmod", "cross")
    assert run.wheel.name.endswith("manylinux_2_36_armv7l.whl"), run.wheel.name
    (verified,) = run.report["verify"]["targets"]
    assert verified["ok"], verified
    (package,) = [p for p in verified["packages"] if p["name"] == "crcmod"]
    assert package["imports"] == {"crcmod": "ok", "crcmod._crcfunext": "ok"}


def test_every_elf_object_is_32_bit_arm_hard_float(cross_build: Run) -> None:
    seen = []
    with zipfile.ZipFile(cross_build.wheel) as archive:
        for member in archive.namelist():
            data = archive.read(member)
            if not data.startswith(b"\x7fELF"):
                continue
            elf = ELFFile(io.BytesIO(data))
            assert elf.elfclass == 32, member
            assert elf["e_machine"] == "EM_ARM", member
            assert elf["e_flags"] & EF_ARM_ABI_FLOAT_HARD, member
            seen.append(member)
    assert seen == ["crcmod/_crcfunext.cpython-311-arm-linux-gnueabihf.so"], seen
