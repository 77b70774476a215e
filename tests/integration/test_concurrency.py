"""Three real ``wheelhouse build`` processes at once on one cache and one output.

A nightly job and a developer on the same box: run A builds docopt (an sdist, amd64,
native, empty wheelhouse cache) and six for cp311-manylinux_2_36_x86_64; while it holds
the cache, B asks for the same requirements and target, C for other requirements (six
alone) on another target (cp313-musllinux_1_2_x86_64). All three finish with exit 0; B
and C say they wait and for which pid; B takes docopt from the build cache A filled
(without the lock B would build it a second time, racing A for the cache entry); both
wheelhouses are complete and self-consistent; nothing is left in the cache's work
directory or half-written in the build cache.

Then a run SIGKILLed while it holds the lock: its line stays in ``build.lock`` but its
flock went with it, so the next run starts at once.

Real engine and PyPI; amd64 only (no QEMU); about 30-40 s on the 2-core machine.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from orchestrator.runlock import LOCK_FILE, holder_of

GLIBC = "cp311-manylinux_2_36_x86_64"
MUSL = "cp313-musllinux_1_2_x86_64"
WHEELHOUSE_CLI = Path(sys.executable).with_name("wheelhouse")
#: python3-dev and libffi-dev: the toolchain test_build.py and test_kill.py use, so
#: BuildKit's cached toolchain layer is shared instead of installed again.
CONFIG = f"""\
output: out
cache_dir: cache
targets:
  - id: {GLIBC}
    base_image: wheelhouse-test/python:3.11-bookworm-amd64
    system_packages: [python3-dev, libffi-dev]
  - id: {MUSL}
    base_image: wheelhouse-test/musl-python:3.13-amd64
    package_manager: none
"""
RUN_LIMIT = 600.0

pytestmark = [pytest.mark.engine, pytest.mark.network]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def complete_wheelhouse(link: Path) -> dict[str, str]:
    """The published symlink holds exactly the manifest's wheels with their hashes, and
    requirements.txt pins exactly them; returns {name: version}."""
    assert link.is_symlink(), link
    manifest = json.loads((link / "manifest.json").read_text("utf-8"))
    wheels = manifest["wheels"]
    assert {w["file"] for w in wheels} == {p.name for p in link.glob("*.whl")}
    for wheel in wheels:
        assert _sha256(link / wheel["file"]) == wheel["sha256"], wheel["file"]
    pinned = {
        line.split()[0]
        for line in (link / "requirements.txt").read_text("utf-8").splitlines()
        if line and not line.startswith("#")
    }
    assert pinned == {f"{w['name']}=={w['version']}" for w in wheels}
    return {w["name"]: w["version"] for w in wheels}


class Project:
    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "tmp").mkdir()
        (root / "wheelhouse.yaml").write_text(CONFIG, "utf-8")
        (root / "both.txt").write_text("docopt==0.6.2\nsix==1.17.0\n", "utf-8")
        (root / "six.txt").write_text("six==1.17.0\n", "utf-8")

    def start(self, requirements: str, target: str) -> subprocess.Popen[str]:
        drop = {"WHEELHOUSE_CACHE_DIR", "GITHUB_STEP_SUMMARY"}
        env = {k: v for k, v in os.environ.items() if k not in drop}
        argv = [str(WHEELHOUSE_CLI), "build", "-c", str(self.root / "wheelhouse.yaml")]
        argv += ["-r", str(self.root / requirements), "-t", target, "--json"]
        return subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env | {"TMPDIR": str(self.root / "tmp")},
            start_new_session=True,
        )


def first_line(process: subprocess.Popen[str]) -> str:
    """The run's first progress line: it prints nothing before it holds the lock."""
    assert process.stderr is not None
    line = process.stderr.readline()
    assert line, f"the run ended (exit {process.wait()}) before printing anything"
    return line


def finish(process: subprocess.Popen[str], head: str = "") -> tuple[int, dict[str, Any], str]:
    try:
        stdout, stderr = process.communicate(timeout=RUN_LIMIT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        raise
    report: dict[str, Any] = json.loads(stdout) if stdout.strip() else {}
    return process.returncode, report, head + stderr


def _target(report: dict[str, Any], target_id: str) -> dict[str, Any]:
    (found,) = [t for t in report["targets"] if t["id"] == target_id]
    assert isinstance(found, dict)
    return found


@pytest.fixture(scope="module")
def three_at_once(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    project = Project(tmp_path_factory.mktemp("concurrency"))
    a = project.start("both.txt", GLIBC)
    a_head = first_line(a)
    b = project.start("both.txt", GLIBC)
    c = project.start("six.txt", MUSL)
    started = time.monotonic()
    runs = {"a": finish(a, a_head), "b": finish(b), "c": finish(c)}
    return {
        "project": project,
        "pid_a": a.pid,
        "runs": runs,
        "seconds": time.monotonic() - started,
    }


def test_all_three_finish_with_exit_0(three_at_once: dict[str, Any]) -> None:
    for name, (code, _report, stderr) in three_at_once["runs"].items():
        assert code == 0, f"run {name}:\n{stderr}"


def test_the_runs_that_wait_say_so_and_name_the_holder(three_at_once: dict[str, Any]) -> None:
    project: Project = three_at_once["project"]
    lock = project.root / "cache" / LOCK_FILE
    _code, _report, a_err = three_at_once["runs"]["a"]
    assert "waiting for another wheelhouse build" not in a_err
    for name in ("b", "c"):
        _code, _report, stderr = three_at_once["runs"][name]
        waits = [line for line in stderr.splitlines() if "waiting for another" in line]
        assert waits, f"run {name} did not say it waits:\n{stderr}"
        assert "(pid " in waits[0] and f"which holds {lock}" in waits[0], waits[0]
        assert f"took {lock} after waiting" in stderr
    # A held the lock when both started; one of them then waited for the other as well.
    first_waits = [
        next(line for line in three_at_once["runs"][n][2].splitlines() if "waiting for" in line)
        for n in ("b", "c")
    ]
    assert any(f"(pid {three_at_once['pid_a']} since " in line for line in first_waits)


def test_the_waiting_run_takes_the_wheel_the_first_one_built(
    three_at_once: dict[str, Any],
) -> None:
    _code, a_report, _err = three_at_once["runs"]["a"]
    _code, b_report, _err = three_at_once["runs"]["b"]
    assert [w["name"] for w in _target(a_report, GLIBC)["built"]] == ["docopt"]
    b_target = _target(b_report, GLIBC)
    assert b_target["built"] == [] and b_target["cached"] == 1, b_target


def test_both_wheelhouses_are_complete(three_at_once: dict[str, Any]) -> None:
    out = three_at_once["project"].root / "out"
    assert complete_wheelhouse(out / GLIBC) == {"docopt": "0.6.2", "six": "1.17.0"}
    assert complete_wheelhouse(out / MUSL) == {"six": "1.17.0"}
    cache = three_at_once["project"].root / "cache"
    assert list((cache / "work").iterdir()) == []
    assert [p.name for p in (cache / "built").glob(".partial-*")] == []


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    project = Project(tmp_path)
    killed = project.start("six.txt", GLIBC)
    first_line(killed)
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait()
    lock = tmp_path / "cache" / LOCK_FILE
    assert holder_of(lock).startswith(f"pid {killed.pid} since ")  # the line stays...
    code, report, stderr = finish(project.start("six.txt", GLIBC))
    assert code == 0, stderr
    assert "waiting for another" not in stderr  # ... but it is no lock
    assert complete_wheelhouse(tmp_path / "out" / GLIBC) == {"six": "1.17.0"}
    assert _target(report, GLIBC)["downloaded"] == 1
