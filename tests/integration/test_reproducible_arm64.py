"""Reproducible cross builds for arm64, glibc and musl, through the CLI: the same bytes twice.

cffi 1.17.1 (forced: it has wheels), crcmod 1.7, netifaces 0.11.0 and psutil 6.1.1
(forced) are cross-compiled on this machine for cp311-manylinux_2_36_aarch64 (the local
Debian bookworm images; the cross stages run in the amd64 one) and for
cp313-musllinux_1_2_aarch64 (the local musl CPython images, ``package_manager: none``).
Each target's app is built twice by ``wheelhouse build --json``, each time from a cold
wheelhouse cache (its own ``WHEELHOUSE_CACHE_DIR``) into its own output, a few seconds
apart (a clock that reached a wheel would show). Every wheel, ``requirements.txt`` and
``manifest.json`` must be byte-identical between the two; ``provenance.json`` (the run's
time and host) must not be. A wheel that differs is named with its first differing member.

The arm64 images run here under QEMU only for the target check after each cross build;
the compilers are the amd64 image's cross gcc, so the whole test takes about 1.5 minutes.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from orchestrator.build.reproduce import first_difference
from tests.integration.cli import WHEELHOUSE_CLI

pytestmark = [pytest.mark.engine, pytest.mark.network]

PINS = "cffi==1.17.1\ncrcmod==1.7\nnetifaces==0.11.0\npsutil==6.1.1\npycparser==2.22\n"
BUILT = ["cffi", "crcmod", "netifaces", "psutil"]
TARGETS = {
    "glibc": """\
  - id: cp311-manylinux_2_36_aarch64
    base_image: wheelhouse-test/python:3.11-bookworm-arm64
    runtime_image: wheelhouse-test/python:3.11-bookworm-arm64
    cross_image: wheelhouse-test/python:3.11-bookworm-amd64
    package_manager: apt
    build_mode: cross
    system_packages: [python3-dev, libffi-dev]
""",
    "musl": """\
  - id: cp313-musllinux_1_2_aarch64
    base_image: wheelhouse-test/musl-python:3.13-arm64
    cross_image: wheelhouse-test/musl-python:3.13-amd64
    package_manager: none
    build_mode: cross
""",
}
CONFIG = """\
requirements: requirements.txt
output: {output}
targets:
{target}build:
  force_build: [cffi, psutil]
  timeout: 900
"""
#: The wheelhouse files that must not change between the two builds.
SAME = ("requirements.txt", "manifest.json")


def build_once(app: Path, target: str, run: str) -> tuple[Path, dict[str, Any]]:
    """``wheelhouse build --json`` into ``app/<run>`` with a cache of its own: its
    wheelhouse folder and the JSON report."""
    (app / f"{run}.yaml").write_text(CONFIG.format(output=run, target=TARGETS[target]))
    env = {**os.environ, "WHEELHOUSE_CACHE_DIR": str(app / f"cache-{run}")}
    done = subprocess.run(
        [str(WHEELHOUSE_CLI), "build", "--json", "-c", str(app / f"{run}.yaml")],
        cwd=app,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    report = json.loads(done.stdout)
    (built,) = report["targets"]
    return app / run / built["id"], built


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_cross_built_arm64_wheels_are_the_same_bytes_from_two_cold_builds(
    tmp_path: Path, target: str
) -> None:
    (tmp_path / "requirements.txt").write_text(PINS)
    first, report = build_once(tmp_path, target, "first")
    time.sleep(3)
    second, again = build_once(tmp_path, target, "second")

    for each in (report, again):
        assert each["failures"] == []
        assert sorted(b["name"] for b in each["built"]) == BUILT
        assert {b["build_mode"] for b in each["built"]} == {"cross"}
        assert each["cached"] == 0
    wheels = sorted(p.name for p in first.glob("*.whl"))
    assert len(wheels) == len(BUILT) + 1  # and pycparser, downloaded
    assert sorted(p.name for p in second.glob("*.whl")) == wheels
    differences = {
        name: first_difference(first / name, second / name)
        for name in wheels
        if hashlib.sha256((first / name).read_bytes()).digest()
        != hashlib.sha256((second / name).read_bytes()).digest()
    }
    assert differences == {}
    for name in SAME:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    assert (first / "provenance.json").read_bytes() != (second / "provenance.json").read_bytes()
