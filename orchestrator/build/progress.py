"""Progress of a target's build: the events the builder reports, and the watcher that
turns buildx's plain output into them (which package a step belongs to)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from packaging.utils import (
    NormalizedName,
    canonicalize_name,
)

from orchestrator.build.dockerfile import (
    CHECK_STAGE_PREFIX,
    CROSS_STAGE_PREFIX,
    STAGE_PREFIX,
)
from orchestrator.build.engine import PlainProgressParser

ProgressKind = Literal[
    "download",  # fetching files (message says what)
    "resolve",  # resolving a package's build requirements
    "cached",  # a package's wheel came from the build cache
    "nothing-to-build",  # every build was a cache hit: no buildx run
    "buildx-start",  # the one buildx run of the target starts (message: its packages)
    "step",  # a toolchain/tools step started or was cached (message: the step)
    "output",  # a line of buildx output that belongs to no package
    "package-start",  # BuildKit started a package's stage
    "package-done",  # BuildKit finished a package's stage (seconds)
    "package-built",  # a wheel was built and stored in the cache
    "package-failed",  # a package failed (message: the reason)
    "buildx-done",  # the buildx run ended (seconds)
    "mode",  # a package for a foreign target is built under QEMU (message: why)
    "check",  # a cross-built wheel's check on the target ended (message: the verdict)
    "fallback",  # a failed cross build is built again under QEMU (message: why)
]


@dataclass(frozen=True, kw_only=True)
class ProgressEvent:
    target: str
    kind: ProgressKind
    package: NormalizedName | None = None
    message: str = ""
    seconds: float | None = None


Progress = Callable[[ProgressEvent], None]


def no_progress(_event: ProgressEvent) -> None:
    return None


class ProgressWatcher:
    """Turns buildx plain-progress lines into ProgressEvents and notes package times."""

    def __init__(self, target: str, progress: Progress) -> None:
        self.target = target
        self.progress = progress
        self.parser = PlainProgressParser()
        self.seconds: dict[NormalizedName, float] = {}
        #: BuildKit's seconds for each cross-built wheel's check on the target.
        self.check_seconds: dict[NormalizedName, float] = {}

    def feed(self, line: str) -> None:
        step = self.parser.feed(line)
        if step is None:
            return
        package = package_of(step.stage)
        checked = checked_package_of(step.stage)
        if checked is not None:
            if step.kind == "done" and step.seconds is not None:
                self.check_seconds[checked] = step.seconds
        elif package is None:
            self._other(step.kind, step.stage, step.text)
        elif step.kind == "start":
            self._emit("package-start", package, step.text)
        elif step.kind == "done" and step.seconds is not None:
            self.seconds[package] = step.seconds
            self._emit("package-done", package, seconds=step.seconds)

    def _other(self, kind: str, stage: str | None, text: str) -> None:
        if stage in (None, "internal") and kind in ("start", "cached"):
            return
        if kind == "start":
            self._emit("step", None, f"[{stage}] {text}")
        elif kind == "cached":
            self._emit("step", None, f"[{stage}] cached")
        elif kind in ("output", "error"):
            self._emit("output", None, text)

    def _emit(
        self,
        kind: ProgressKind,
        package: NormalizedName | None,
        message: str = "",
        seconds: float | None = None,
    ) -> None:
        event = ProgressEvent(
            target=self.target, kind=kind, package=package, message=message, seconds=seconds
        )
        self.progress(event)


def package_of(stage: str | None) -> NormalizedName | None:
    """The package a build stage (emulated ``pkg-`` or cross ``xpkg-``) builds."""
    for prefix in (STAGE_PREFIX, CROSS_STAGE_PREFIX):
        if stage is not None and stage.startswith(prefix):
            return canonicalize_name(stage[len(prefix) :])
    return None


def checked_package_of(stage: str | None) -> NormalizedName | None:
    if stage is None or not stage.startswith(CHECK_STAGE_PREFIX):
        return None
    return canonicalize_name(stage[len(CHECK_STAGE_PREFIX) :])
