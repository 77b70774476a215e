"""What an in-process ``run_build`` says, printed to the test's stderr (shown with ``-s``
and in a failure's captured output), each line with the seconds since the module began."""

from __future__ import annotations

import sys
import time

from orchestrator.build.progress import ProgressEvent


class Progress:
    """``say`` and ``event`` for ``run_build(session, options, say, event)``."""

    def __init__(self) -> None:
        self.start = time.monotonic()

    def say(self, line: str) -> None:
        print(f"{time.monotonic() - self.start:7.1f}s {line}", file=sys.stderr)

    def event(self, event: ProgressEvent) -> None:
        # buildx's own lines and step lines: too many, and the logs keep them.
        if event.kind not in ("output", "step"):
            took = "" if event.seconds is None else f" ({event.seconds:.1f} s)"
            self.say(f"[{event.target}] {event.kind} {event.package or ''} {event.message}{took}")
