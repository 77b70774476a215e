"""A run of two targets where one cannot be planned: the other is planned and built.

A uv.lock with ``requires-python = ">=3.12"`` and two amd64 targets: cp311 (Debian
bookworm's Python, which the lock excludes) and cp313 musllinux. ``wheelhouse plan`` and
``wheelhouse build`` (real engine and PyPI; nothing to build: six is a pure wheel) report
cp311's error for cp311 alone, plan and publish cp313, and exit 3 (something failed).
About 10 s.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

GLIBC = "cp311-manylinux_2_36_x86_64"
MUSL = "cp313-musllinux_1_2_x86_64"
WHEELHOUSE_CLI = Path(sys.executable).with_name("wheelhouse")
CONFIG = f"""\
requirements: uv.lock
output: out
cache_dir: cache
targets:
  - id: {GLIBC}
    base_image: wheelhouse-test/python:3.11-bookworm-amd64
  - id: {MUSL}
    base_image: wheelhouse-test/musl-python:3.13-amd64
    package_manager: none
"""
SIX = (
    "https://files.pythonhosted.org/packages/b7/ce/149a00dd41f10bc29e5921b496af8b574d8413afcd5e30dfa0ed46c2cc5e/"
    "six-1.17.0-py2.py3-none-any.whl"
)
SIX_SHA = "4721f391ed90541fddacab5acf947aa0d3dc7d27b2e1e8eda2be8970586c3274"
LOCK = f"""\
version = 1
revision = 2
requires-python = ">=3.12"

[[package]]
name = "app"
version = "0.1.0"
source = {{ virtual = "." }}
dependencies = [{{ name = "six" }}]

[[package]]
name = "six"
version = "1.17.0"
source = {{ registry = "https://pypi.org/simple" }}
wheels = [
    {{ url = "{SIX}", hash = "sha256:{SIX_SHA}", size = 11050 }},
]
"""
EXCLUDED = f"requires-python >=3.12 excludes target {GLIBC}"

pytestmark = [pytest.mark.engine, pytest.mark.network]


def run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "WHEELHOUSE_CACHE_DIR"}
    return subprocess.run(
        [str(WHEELHOUSE_CLI), *args, "-c", str(root / "wheelhouse.yaml")],
        capture_output=True,
        text=True,
        env=env | {"TMPDIR": str(root)},
        check=False,
        timeout=300,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "wheelhouse.yaml").write_text(CONFIG, "utf-8")
    (tmp_path / "uv.lock").write_text(LOCK, "utf-8")
    return tmp_path


def test_plan_reports_the_excluded_target_and_plans_the_other(project: Path) -> None:
    shown = run(project, "plan")
    assert shown.returncode == 3, shown.stderr
    assert f"{GLIBC}\n  ERROR: this target cannot be planned\n" in shown.stdout
    assert EXCLUDED in shown.stdout
    musl = shown.stdout[shown.stdout.index(f"\n{MUSL}  (") :]
    assert "six-1.17.0-py2.py3-none-any.whl\n1 wheel, 0 builds, 0 errors" in musl
    as_json = json.loads(run(project, "plan", "--json").stdout)
    by_id = {t["id"]: t for t in as_json["targets"]}
    assert EXCLUDED in by_id[GLIBC]["error"] and by_id[GLIBC]["packages"] == []
    assert [p["name"] for p in by_id[MUSL]["packages"]] == ["six"]


def test_build_publishes_the_other_target_and_exits_3(project: Path) -> None:
    built = run(project, "build", "--json")
    assert built.returncode == 3, built.stderr
    assert "Traceback" not in built.stderr
    assert f"[{GLIBC}] not planned, wheelhouse left as it was: " in built.stderr
    assert f"error: 1 target(s) could not be planned: {GLIBC} (the others were built" in (
        built.stderr
    )
    report = json.loads(built.stdout)
    assert report["unpublished"][GLIBC].startswith("not planned: ")
    assert EXCLUDED in report["unpublished"][GLIBC]
    assert [t["id"] for t in report["targets"]] == [MUSL]
    manifest = json.loads((project / "out" / MUSL / "manifest.json").read_text("utf-8"))
    assert [w["name"] for w in manifest["wheels"]] == ["six"]
    assert not (project / "out" / GLIBC).exists()
