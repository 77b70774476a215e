"""build_lock: one build per cache; a waiting run says for whom; a dead holder frees it.

The lock is a real flock on a real file: a second open file description (here, another
``os.open`` in the same process) conflicts as another process would.
"""

from __future__ import annotations

import fcntl
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.runlock import LOCK_FILE, build_lock, holder_of


@pytest.fixture
def held(tmp_path: Path) -> Iterator[int]:
    """Another holder of ``tmp_path/build.lock``, as a running build writes it."""
    fd = os.open(tmp_path / LOCK_FILE, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.write(fd, b"pid 4242 since 2026-12-03T12:00:00+00:00: wheelhouse build -a arm64\n")
    try:
        yield fd
    finally:
        os.close(fd)


def test_a_free_lock_is_taken_at_once_and_names_this_run(tmp_path: Path) -> None:
    said: list[str] = []
    with build_lock(tmp_path / "cache", said.append) as path:
        assert path == tmp_path / "cache" / LOCK_FILE
        assert re.fullmatch(rf"pid {os.getpid()} since \S+: wheelhouse .*", holder_of(path))
    assert said == []


def test_a_held_lock_is_waited_for_with_the_holder_named(tmp_path: Path, held: int) -> None:
    said: list[str] = []
    threading.Timer(0.3, fcntl.flock, (held, fcntl.LOCK_UN)).start()
    with build_lock(tmp_path, said.append, poll=0.05):
        assert holder_of(tmp_path / LOCK_FILE).startswith(f"pid {os.getpid()} ")
    assert said[0] == (
        "waiting for another wheelhouse build (pid 4242 since 2026-12-03T12:00:00+00:00: "
        f"wheelhouse build -a arm64), which holds {tmp_path / LOCK_FILE}: this run goes on "
        "when that one ends (Ctrl-C to give up)"
    )
    assert re.fullmatch(
        rf"took {re.escape(str(tmp_path / LOCK_FILE))} after waiting \d+ s", said[-1]
    )


def test_a_long_wait_is_said_again_every_minute(tmp_path: Path, held: int) -> None:
    said: list[str] = []
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += 20.0
        if now[0] >= 130.0:
            fcntl.flock(held, fcntl.LOCK_UN)

    with build_lock(tmp_path, said.append, clock=lambda: now[0], sleep=sleep):
        pass
    stills = [s for s in said if s.startswith("still waiting")]
    assert stills == [
        f"still waiting for {tmp_path / LOCK_FILE} (pid 4242 since 2026-12-03T12:00:00+00:00: "
        f"wheelhouse build -a arm64), {s} s so far"
        for s in (60, 120)
    ]
    assert said[-1] == f"took {tmp_path / LOCK_FILE} after waiting 140 s"


def test_the_line_of_a_dead_holder_is_no_lock(tmp_path: Path) -> None:
    """A crashed run's line stays in the file, but its flock went with it."""
    (tmp_path / LOCK_FILE).write_text("pid 999999 since 2026-01-01T00:00:00+00:00: x\n")
    said: list[str] = []
    with build_lock(tmp_path, said.append):
        assert holder_of(tmp_path / LOCK_FILE).startswith(f"pid {os.getpid()} ")
    assert said == []


def test_a_holder_that_has_not_written_its_line_yet(tmp_path: Path) -> None:
    (tmp_path / LOCK_FILE).write_text("")
    assert holder_of(tmp_path / LOCK_FILE) == "pid unknown: it has not written its name yet"
    assert holder_of(tmp_path / "missing") == "pid unknown: it has not written its name yet"


def test_the_lock_is_dropped_when_the_block_raises(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt), build_lock(tmp_path, print):
        raise KeyboardInterrupt
    fd = os.open(tmp_path / LOCK_FILE, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises BlockingIOError if still held
    finally:
        os.close(fd)
