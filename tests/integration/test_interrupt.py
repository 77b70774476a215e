"""SIGTERM and SIGINT to a real ``wheelhouse build``: a clear message, nothing lost.

A project whose wheelhouse holds six alone gains docopt (an sdist built natively for
cp311-manylinux_2_36_x86_64). ``wheelhouse build`` runs as a subprocess in its own
process group and is stopped:

1. by SIGTERM to its process alone (what ``docker stop`` and ``kill PID`` send) while
   BuildKit builds docopt: exit 143;
2. by SIGINT to its whole group (a terminal's Ctrl-C) while uv resolves docopt's build
   requirements: exit 130.

Each time the run says it was interrupted and what that leaves, with no traceback; the
published wheelhouse is the previous one, file for file; the run's own clean-up ran (its
work directory is gone, the build lock is free) and no buildx process of it is left
(after SIGTERM to wheelhouse alone, buildx used to go on building until its next line
of output). test_kill.py covers SIGKILL, which nothing can clean up after.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

TARGET = "cp311-manylinux_2_36_x86_64"
WHEELHOUSE_CLI = Path(sys.executable).with_name("wheelhouse")
#: The toolchain test_build.py and test_kill.py use: BuildKit's cached layer is shared.
CONFIG = f"""\
requirements: requirements.txt
output: out
cache_dir: cache
targets:
  - id: {TARGET}
    base_image: wheelhouse-test/python:3.11-bookworm-amd64
    system_packages: [python3-dev, libffi-dev]
"""
SAID = (
    "): each wheelhouse is the previous one or a complete new one, never half-written; what "
    "was downloaded or built before is in the cache, so the next run goes on from there"
)

pytestmark = [pytest.mark.engine, pytest.mark.network]


def files_of(link: Path) -> dict[str, str]:
    root = link.resolve()
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def env_for(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"WHEELHOUSE_CACHE_DIR"}}
    return env | {"TMPDIR": str(root / "tmp")}


def argv(root: Path) -> list[str]:
    return [str(WHEELHOUSE_CLI), "build", "-c", str(root / "wheelhouse.yaml")]


def buildx_of(root: Path) -> list[str]:
    """buildx processes of this project's runs (its TMPDIR is on their command line)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if "buildx" in cmd and str(root / "tmp") in cmd and state != "Z":
            found.append(cmd)
    return found


def interrupt_at(root: Path, marker: str, signum: int, *, group: bool) -> tuple[int, str]:
    process = subprocess.Popen(
        argv(root),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env_for(root),
        start_new_session=True,
    )
    lines = []
    assert process.stderr is not None
    for line in process.stderr:
        lines.append(line)
        if marker in line:
            (os.killpg if group else os.kill)(process.pid, signum)
            break
    try:
        rest = process.communicate(timeout=60)[1]
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        raise
    return process.returncode, "".join(lines) + rest


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("interrupt")
    (root / "tmp").mkdir()
    (root / "wheelhouse.yaml").write_text(CONFIG, "utf-8")
    (root / "requirements.txt").write_text("six==1.17.0\n", "utf-8")
    first = subprocess.run(
        argv(root), capture_output=True, text=True, env=env_for(root), check=False
    )
    assert first.returncode == 0, first.stderr
    (root / "requirements.txt").write_text("docopt==0.6.2\nsix==1.17.0\n", "utf-8")
    return root


def assert_nothing_lost(root: Path, before: dict[str, str]) -> None:
    assert files_of(root / "out" / TARGET) == before
    assert list((root / "cache" / "work").iterdir()) == []
    fd = os.open(root / "cache" / "build.lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # BlockingIOError if still held
    finally:
        os.close(fd)
    deadline = time.monotonic() + 10
    while buildx_of(root) and time.monotonic() < deadline:
        time.sleep(0.25)
    assert buildx_of(root) == []


@pytest.mark.parametrize(
    ("marker", "signum", "group", "code"),
    [
        ("docopt: building", signal.SIGTERM, False, 143),
        ("docopt: resolving build requirements", signal.SIGINT, True, 130),
    ],
    ids=["sigterm-to-wheelhouse-alone-while-building", "sigint-to-the-group-while-resolving"],
)
def test_an_interrupted_build_says_so_and_loses_nothing(
    project: Path, marker: str, signum: int, group: bool, code: int
) -> None:
    before = files_of(project / "out" / TARGET)
    returncode, stderr = interrupt_at(project, marker, signum, group=group)
    assert marker in stderr, stderr
    assert returncode == code, stderr
    assert f"interrupted ({signal.Signals(signum).name}{SAID}" in stderr
    assert "Traceback" not in stderr
    assert_nothing_lost(project, before)
