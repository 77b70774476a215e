"""A build that runs a library's config tool, cross-compiled: mysqlclient 2.1.1 from PyPI.

Its setup_posix.py runs ``mysql_config --version``, ``--libs`` and ``--cflags``. Debian's
(libmariadb-dev:arm64's mariadb_config) is an arm64 ELF program: in the cross stage it
could only run under QEMU. There the stand-in of dockerfiles/cross-config.sh answers from
the target's mysqlclient.pc (``3.3.19``, Connector/C's version; the program says the server's
``10.11.18``), and the build log lists each answer. Built for cp311-manylinux_2_36_aarch64 with
``build_mode: cross`` (no QEMU fallback), from a cold cache, with ``--verify``: every ELF
object is aarch64 and, in a clean arm64 container without libmariadb3, MySQLdb names the
client library it was linked with (the grafted libmariadb).
"""

from __future__ import annotations

import json
import os
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.integration.cli import WHEELHOUSE_CLI

pytestmark = [pytest.mark.engine, pytest.mark.network]

TARGET = "cp311-manylinux_2_36_aarch64"
CONFIG = f"""\
requirements: requirements.txt
output: wheelhouse
targets:
  - id: {TARGET}
    base_image: wheelhouse-test/python:3.11-bookworm-arm64
    cross_image: wheelhouse-test/python:3.11-bookworm-amd64
    package_manager: apt
    build_mode: cross
    system_packages: [python3-dev]   # Debian's own python3 keeps its headers apart
build:
  timeout: 900
packages:
  mysqlclient:
    test: python3 -c "import MySQLdb; print(MySQLdb.get_client_info())"
"""


def test_mysqlclient_runs_the_targets_mysql_config_stand_in_when_cross_built(
    tmp_path: Path,
) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "requirements.txt").write_text("mysqlclient==2.1.1\n")
    (app / "wheelhouse.yaml").write_text(CONFIG)
    cache = tmp_path / "cache"
    done = subprocess.run(
        [str(WHEELHOUSE_CLI), "build", "--verify", "--json", "-c", str(app / "wheelhouse.yaml")],
        cwd=app,
        env={**os.environ, "WHEELHOUSE_CACHE_DIR": str(cache)},
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    report: dict[str, Any] = json.loads(done.stdout)
    (built,) = report["targets"]
    assert built["failures"] == []
    assert [(b["name"], b["build_mode"], b["fallback_reason"]) for b in built["built"]] == [
        ("mysqlclient", "cross", None)
    ]
    assert report["verify"]["ok"], done.stderr[-4000:]
    ((verified,),) = [t["packages"] for t in report["verify"]["targets"]]
    assert verified["test"]["ok"], verified
    assert verified["test"]["output"] == "3.3.19"  # bookworm's libmariadb3 (Connector/C)

    # The stand-in answered, not the arm64 program (whose --version is the server's).
    log = (cache / "logs" / TARGET / "mysqlclient-2.1.1.cross.log").read_text()
    asked = [line for line in log.splitlines() if "cross config tool:" in line]
    assert asked[0] == (
        "wheelhouse: cross config tool: mysql_config --version -> 3.3.19 (mysqlclient.pc)"
    )
    assert (
        "wheelhouse: cross config tool: mysql_config --libs -> -L/usr/lib/aarch64-linux-gnu/"
        " -lmariadb (mysqlclient.pc)" in asked
    ), asked
    assert "10.11.18" not in log

    (wheel,) = (app / "wheelhouse" / TARGET).glob("mysqlclient-2.1.1-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        elves = [archive.read(n) for n in archive.namelist() if n.endswith((".so",)) or ".so." in n]
    assert len(elves) >= 2  # MySQLdb/_mysql and the grafted libmariadb
    for elf in elves:
        assert elf[:4] == b"\x7fELF" and elf[18] == 0xB7  # e_machine EM_AARCH64
