"""Live progress on stderr: one line per event, with the time since the run started.

Only the CLI prints; the library reports progress through callbacks into this.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TextIO

from orchestrator.build.progress import ProgressEvent

#: Build events worth a line of their own (buildx's raw output is kept for the log).
_SHOWN = {
    "download": "downloading",
    "resolve": "resolving",
    "cached": "from build cache",
    "nothing-to-build": "",
    "buildx-start": "docker buildx build:",
    "step": "",
    "package-start": "building",
    "package-done": "stage done",
    "package-built": "built",
    "package-failed": "FAILED",
    "buildx-done": "buildx finished:",
    "output": "...",
    "mode": "under QEMU:",
    "check": "check on the target",
    "fallback": "cross build given up, building under QEMU:",
}
#: A long step (apt under QEMU) prints a line of its output at most this often.
OUTPUT_EVERY_SECONDS = 15.0


class Console:
    """Writes progress lines to ``stream``; ``quiet`` keeps only failures."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        quiet: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self._clock = clock
        self._start = clock()
        self._steps_seen: set[str] = set()
        self._last_output = self._start

    def say(self, text: str) -> None:
        if not self.quiet:
            self._write(text)

    def build_event(self, event: ProgressEvent) -> None:
        if event.kind not in _SHOWN or (self.quiet and event.kind != "package-failed"):
            return
        if event.kind == "output":
            if self._clock() - self._last_output < OUTPUT_EVERY_SECONDS:
                return
            self._last_output = self._clock()
            event = replace(event, message=event.message.strip()[:100])
        if event.kind == "package-start":
            event = replace(event, message="")  # the message is the whole RUN line
        if event.kind == "step":
            key = f"{event.target}:{event.message}"
            if key in self._steps_seen:
                return
            self._steps_seen.add(key)
            event = replace(event, message=_shorten(event.message))
        parts = [f"[{event.target}]"]
        if event.package:
            parts.append(f"{event.package}:")
        word = _SHOWN[event.kind]
        if word:
            parts.append(word)
        if event.message:
            parts.append(event.message)
        if event.seconds is not None:
            parts.append(f"({event.seconds:.1f}s)")
        self._write(" ".join(parts))

    def _write(self, text: str) -> None:
        elapsed = self._clock() - self._start
        self.stream.write(f"{_clock_text(elapsed)} {text}\n")
        self.stream.flush()


def _clock_text(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes:02d}:{secs:02d}"


def _shorten(text: str, width: int = 110) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 3] + "..."
