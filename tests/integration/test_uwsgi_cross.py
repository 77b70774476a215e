"""uWSGI 2.0.28 from PyPI, cross-compiled for both local arm64 targets, runs on the target.

uwsgi is a program that embeds Python, not an extension module: its ``bin/uwsgi`` links
the target's libpython, or, for a Python built without ``--enable-shared``, links its
static libpython in. Built ``cross`` (no QEMU fallback: ``build_mode: cross``) for

- cp311-manylinux_2_36_aarch64 (Debian bookworm's own python3, apt): auditwheel keeps
  libpython3.11.so.1.0 in the binary's NEEDED (the knowledge file's ``system_libraries``),
  the wheelhouse records ``libpython3.11`` as a runtime package, verify installs it;
- cp313-musllinux_1_2_aarch64 (the musl stand-in, ``package_manager: none``): the static
  libpython3.13.a is linked in, and the wheelhouse needs nothing of the runtime image.

Each build runs from its own cold ``WHEELHOUSE_CACHE_DIR`` with ``--verify`` (which runs the
knowledge file's ``test: uwsgi --version`` in a clean arm64 container); then the runtime
Dockerfile ``wheelhouse dockerfile`` prints is built for linux/arm64 and its image runs
``uwsgi --version`` with no network. QEMU runs only the target check, verify and that image.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.integration.cli import WHEELHOUSE_CLI

pytestmark = [pytest.mark.engine, pytest.mark.network]

TARGETS = {
    "cp311-manylinux_2_36_aarch64": """\
  - id: cp311-manylinux_2_36_aarch64
    base_image: wheelhouse-test/python:3.11-bookworm-arm64
    cross_image: wheelhouse-test/python:3.11-bookworm-amd64
    package_manager: apt
    build_mode: cross
    system_packages: [python3-dev]   # Debian's own python3 keeps its headers apart
""",
    "cp313-musllinux_1_2_aarch64": """\
  - id: cp313-musllinux_1_2_aarch64
    base_image: wheelhouse-test/musl-python:3.13-arm64
    cross_image: wheelhouse-test/musl-python:3.13-amd64
    package_manager: none
    build_mode: cross
""",
}
#: What each target's wheelhouse must ask of the runtime image.
RUNTIME_PACKAGES = {
    "cp311-manylinux_2_36_aarch64": ["libpython3.11"],
    "cp313-musllinux_1_2_aarch64": [],
}
CONFIG = """\
requirements: requirements.txt
output: wheelhouse
targets:
{target}build:
  timeout: 900
"""


def run(app: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in ``app``, with a cache of its own beside it (outside the Docker context)."""
    return subprocess.run(
        [str(WHEELHOUSE_CLI), *args, "-c", str(app / "wheelhouse.yaml")],
        cwd=app,
        env={**os.environ, "WHEELHOUSE_CACHE_DIR": str(app.parent / "cache")},
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )


def uwsgi_binary(wheel: Path) -> bytes:
    """The bytes of the wheel's uwsgi executable: ``.data/scripts/uwsgi``, or where
    auditwheel moves a program it grafts libraries for (``uwsgi.scripts/uwsgi``, with a
    shim in ``.data/scripts``)."""
    with zipfile.ZipFile(wheel) as archive:
        found = [archive.read(n) for n in archive.namelist() if n.endswith("/uwsgi")]
    (binary,) = [b for b in found if b.startswith(b"\x7fELF")]
    return binary


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_uwsgi_is_cross_built_verified_and_runs_on_the_arm64_target(
    tmp_path: Path, target: str
) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "requirements.txt").write_text("uwsgi==2.0.28\n")
    (app / "wheelhouse.yaml").write_text(CONFIG.format(target=TARGETS[target]))

    done = run(app, "build", "--verify", "--json")
    assert done.returncode == 0, done.stderr[-4000:]
    report: dict[str, Any] = json.loads(done.stdout)
    (built,) = report["targets"]
    assert built["failures"] == []
    assert [(b["name"], b["build_mode"], b["fallback_reason"]) for b in built["built"]] == [
        ("uwsgi", "cross", None)
    ]
    assert report["verify"]["ok"], done.stderr[-4000:]
    ((verified,),) = [t["packages"] for t in report["verify"]["targets"]]
    assert verified["test"] == {
        "command": "uwsgi --version",
        "returncode": 0,
        "ok": True,
        "output": "2.0.28",
    }

    house = app / "wheelhouse" / target
    manifest = json.loads((house / "manifest.json").read_text())
    assert manifest["runtime_packages"] == RUNTIME_PACKAGES[target]
    (wheel,) = house.glob("uwsgi-2.0.28-*.whl")
    binary = uwsgi_binary(wheel)
    assert binary[:4] == b"\x7fELF" and binary[18] == 0xB7  # e_machine EM_AARCH64
    if target.startswith("cp311"):
        assert b"libpython3.11.so.1.0" in binary  # the NEEDED entry auditwheel kept
    else:
        assert b"libpython3.13.so" not in binary  # libpython3.13.a linked in

    # The runtime stage a user builds from the wheelhouse, on the target, no network.
    printed = run(app, "dockerfile", "--target", target)
    assert printed.returncode == 0, printed.stderr
    (app / "Dockerfile").write_text(printed.stdout)
    tag = f"wheelhouse-test-uwsgi/{target}:{uuid.uuid4().hex[:12]}"
    try:
        image = subprocess.run(
            ["docker", "buildx", "build", "--platform", "linux/arm64", "--load", "-t", tag, "."],
            cwd=app,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        assert image.returncode == 0, image.stderr[-4000:]
        command = ["sh", "-c", "uname -m && uwsgi --version"]
        ran = subprocess.run(
            [
                "docker",
                "run",
                "--rm",
                "--network",
                "none",
                "--platform",
                "linux/arm64",
                tag,
                *command,
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert ran.returncode == 0, ran.stderr
        assert ran.stdout.split() == ["aarch64", "2.0.28"]
    finally:
        subprocess.run(["docker", "image", "rm", "-f", tag], capture_output=True, check=False)
