"""One ``wheelhouse build`` at a time per cache: the others wait, and say for whom.

Two builds on one cache (a nightly job and a developer on the same box) would race on
what they share: a build cache entry replaced while the other run hard-links it into its
wheelhouse, the same package built twice at once, logs written over each other. So a
build holds ``<cache>/build.lock`` from its plan to its last wheelhouse, and another
waits for it with a message naming the holder, as cargo does ("Blocking waiting for file
lock on build directory"). The lock is an ``flock``: the kernel drops it when its holder
dies, however it dies, so a crashed or SIGKILLed run never leaves a stale lock behind.
The pid and command written into the file only name the holder in the message.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

LOCK_FILE = "build.lock"
#: How often a waiting run tries again, and how often it says it is still waiting.
POLL_SECONDS = 0.5
REMIND_SECONDS = 60.0


@contextlib.contextmanager
def build_lock(
    cache_dir: Path,
    say: Callable[[str], None],
    *,
    poll: float = POLL_SECONDS,
    remind: float = REMIND_SECONDS,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[Path]:
    """Hold ``<cache_dir>/build.lock`` for the block; wait (saying so) while another has it."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited by buildx (PEP 446)
    try:
        if not _try_lock(fd):
            _wait(fd, path, say, poll=poll, remind=remind, clock=clock, sleep=sleep)
        _write_holder(fd)
        yield path
    finally:
        os.close(fd)  # drops the lock


def _wait(
    fd: int,
    path: Path,
    say: Callable[[str], None],
    *,
    poll: float,
    remind: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> None:
    start = last = clock()
    say(
        f"waiting for another wheelhouse build ({holder_of(path)}), which holds {path}: "
        "this run goes on when that one ends (Ctrl-C to give up)"
    )
    while not _try_lock(fd):
        sleep(poll)
        if clock() - last >= remind:
            last = clock()
            say(f"still waiting for {path} ({holder_of(path)}), {last - start:.0f} s so far")
    say(f"took {path} after waiting {clock() - start:.0f} s")


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _write_holder(fd: int) -> None:
    since = datetime.now(UTC).isoformat(timespec="seconds")
    command = " ".join(["wheelhouse", *sys.argv[1:]])[:300]
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"pid {os.getpid()} since {since}: {command}\n".encode(), 0)


def holder_of(path: Path) -> str:
    """``pid 1234 since ...: wheelhouse build ...`` as the holder wrote it, or a stand-in."""
    try:
        line = path.read_text("utf-8", errors="replace").strip()
    except OSError:
        line = ""
    return line.splitlines()[0] if line else "pid unknown: it has not written its name yet"
