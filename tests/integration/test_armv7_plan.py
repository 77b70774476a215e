"""32-bit Raspberry Pi OS (armv7l) planned against the real PyPI, checked against pip.

uv 0.13 names no armv7l ``--python-platform``: loose input is resolved universally and its
markers evaluated for the target (``orchestrator.pypi.uv.for_target``). These tests check
that this picks what pip picks for the Pi, and that the target's tags are pip's on a Pi.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from orchestrator.cli import app as cli
from orchestrator.targets import Target

ARMV7 = "cp311-manylinux_2_36_armv7l"
ARMHF_IMAGE = "wheelhouse-test/python:3.11-bookworm-armhf"
#: Loose lines whose every package has a wheel for armv7l (pip's --platform needs
#: --only-binary), one with a python_full_version marker below (redis: async-timeout).
LOOSE = "redis<6\nrequests\nbcrypt\n"


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WHEELHOUSE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("PIP_INDEX_URL", raising=False)
    monkeypatch.delenv("PIP_EXTRA_INDEX_URL", raising=False)
    monkeypatch.chdir(tmp_path)


def plan_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], text: str
) -> tuple[int, str, dict[str, dict[str, Any]]]:
    # pip evaluates markers with the interpreter it runs on: the target says the same Python.
    (tmp_path / "requirements.txt").write_text(text, encoding="utf-8")
    (tmp_path / "wheelhouse.yaml").write_text(
        "requirements: requirements.txt\n"
        f"targets:\n  - id: {ARMV7}\n    python_full_version: {platform.python_version()}\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(sys, "argv", ["wheelhouse", "plan", "--json", "-c", "wheelhouse.yaml"])
    try:
        cli.main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    targets = json.loads(out)["targets"] if out else []
    packages = {p["name"]: p for t in targets for p in t["packages"]}
    return code, err, packages


def pip_picks(tmp_path: Path, text: str) -> dict[str, str]:
    """What pip installs for the Pi: ``pip install --dry-run --report`` with the target's
    platforms, Python and ABI (its markers are this interpreter's, as set in the plan)."""
    (tmp_path / "pip.in").write_text(text, encoding="utf-8")
    args = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "-q"]
    args += ["--report", str(tmp_path / "report.json"), "--only-binary", ":all:"]
    args += ["--python-version", "3.11", "--implementation", "cp", "--abi", "cp311"]
    for tag in Target.parse(ARMV7).platforms:
        args += ["--platform", tag]
    subprocess.run([*args, "-r", str(tmp_path / "pip.in")], check=True, capture_output=True)
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    return {
        item["metadata"]["name"].lower(): item["download_info"]["url"].rsplit("/", 1)[1]
        for item in report["install"]
    }


@pytest.mark.network
def test_a_loose_file_is_resolved_for_armv7l_as_pip_picks_on_the_pi(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err, planned = plan_json(tmp_path, monkeypatch, capsys, LOOSE + "crcmod\nnetifaces\n")

    assert code == 0, err
    expected = pip_picks(tmp_path, LOOSE)
    assert {name: planned[name]["file"] for name in expected} == expected
    assert "armv7l" in planned["bcrypt"]["file"]
    for name in ("crcmod", "netifaces"):  # no armv7l wheel on PyPI: built, cross-compiled
        assert planned[name]["action"] == "build"
        assert planned[name]["build_mode"] == "cross"
    assert set(planned) == {*expected, "crcmod", "netifaces"}


@pytest.mark.engine
def test_the_targets_tags_are_pips_on_the_pi() -> None:
    # Debian's pip in the armhf image, under QEMU: the tags it installs, best first.
    run = ["docker", "run", "--rm", "--platform", "linux/arm/v7", ARMHF_IMAGE]
    done = subprocess.run(
        [*run, "python3", "-m", "pip", "debug", "--verbose"],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    lines = done.stdout.split("Compatible tags:", 1)[1].splitlines()[1:]
    on_the_pi = [line.strip() for line in lines if line.startswith("  ")]

    assert on_the_pi == [str(tag) for tag in Target.parse(ARMV7).tags]
    assert "cp311-cp311-linux_armv7l" in on_the_pi
