"""What the builder's unit tests share (test_builder.py: QEMU builds, test_builder_cross.py:
cross builds): plans, a fake downloader, the lines and exports a fake engine plays for each
package stage, and the world a test builds in. Each module keeps its own engine and
resolver: what they fake differs.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Generic, Self, TypedDict, TypeVar, Unpack

from packaging.utils import NormalizedName, canonicalize_name

from orchestrator.build.builder import build_target
from orchestrator.build.cache import BuildCache
from orchestrator.build.context import Resolve, VendorCrates
from orchestrator.build.engine import BuildxRequest, Engine, LineCallback
from orchestrator.build.progress import ProgressEvent
from orchestrator.config import TargetConfig
from orchestrator.knowledge import Knowledge
from orchestrator.model import PackagePlan, TargetBuild, TargetPlan
from orchestrator.plan.modes import BuildModes
from orchestrator.pypi.downloads import FileRequest, StoredFile


def plan_file(name: str, version: str, filename: str, action: str = "download") -> PackagePlan:
    """A plan's package: a wheel to download, or with ``action="build"`` an sdist to build."""
    return PackagePlan(
        name=canonicalize_name(name),
        version=version,
        action="build" if action == "build" else "download",
        file=filename,
        url=f"https://files.example/{filename}",
        sha256=None,
    )


class FakeDownloader:
    """Serves files from a dict (sdists are real archives; any other file's body is its
    name); stores them by content hash."""

    def __init__(self, root: Path, files: dict[str, bytes]) -> None:
        self.root = root
        self.files = files

    def fetch_all(self, requests: Iterable[FileRequest]) -> list[StoredFile]:
        return [self._fetch(r) for r in requests]

    def _fetch(self, request: FileRequest) -> StoredFile:
        body = self.files.get(request.filename, request.filename.encode())
        sha = hashlib.sha256(body).hexdigest()
        path = self.root / sha / request.filename
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        return StoredFile(path=path, sha256=sha)


def stage_lines(request: BuildxRequest, on_line: LineCallback, command: str) -> Iterator[str]:
    """BuildKit's progress for each package stage of ``request``: ``RUN <command>``, then
    done after <vertex>.5s (vertices #10, #11...: the first stage takes 10.5s, the next
    11.5s). Yields each stage's name once its lines are out, for the engine to export it."""
    for vertex, stage in enumerate(request.no_cache_filter, start=10):
        on_line(f"#{vertex} [{stage} 1/1] RUN {command}")
        on_line(f"#{vertex} DONE {vertex}.5s")
        yield stage


def write_result(where: Path, *, status: int, log: str, wheels: Iterable[str], marker: str) -> None:
    """What build-wheel.sh leaves in ``where``: its exit status, its time (3s), its log and
    the wheels, each a zip (the host rewrites it canonically) whose ``marker.txt`` holds
    ``<marker> <wheel name>`` (which stage made it)."""
    (where / "status").write_text(f"{status}\n")
    (where / "seconds").write_text("3\n")
    (where / "build.log").write_text(log)
    for wheel in wheels:
        dist_info = "-".join(wheel.split("-")[:2]) + ".dist-info"
        with zipfile.ZipFile(where / wheel, "w") as zipped:
            zipped.writestr("marker.txt", f"{marker} {wheel}")
            zipped.writestr(f"{dist_info}/RECORD", "")


def wheel_marker(wheel: Path) -> str:
    """What ``write_result`` put in the wheel: ``<marker> <wheel name>``."""
    with zipfile.ZipFile(wheel) as zipped:
        return zipped.read("marker.txt").decode()


class BuildOptions(TypedDict, total=False):
    """``build_target``'s options a test may set."""

    force: bool
    now: Callable[[], datetime]
    crates: VendorCrates | None
    knowledge: Knowledge | None
    modes: BuildModes | None
    no_import: frozenset[NormalizedName]


ResolveT = TypeVar("ResolveT", bound=Resolve)


@dataclass
class BuildWorld(Generic[ResolveT]):
    """Where a test's builds happen: downloads in ``tmp/files``, the build cache in
    ``tmp/built``, ``tmp/work`` and ``tmp/logs``; every progress event is kept."""

    tmp: Path
    downloader: FakeDownloader
    resolve: ResolveT
    cache: BuildCache
    events: list[ProgressEvent]

    @classmethod
    def create(cls, tmp: Path, files: dict[str, bytes], resolve: ResolveT) -> Self:
        return cls(
            tmp=tmp,
            downloader=FakeDownloader(tmp / "files", files),
            resolve=resolve,
            cache=BuildCache(tmp / "built"),
            events=[],
        )

    def build_target(
        self,
        plan: TargetPlan,
        tcfg: TargetConfig,
        engine: Engine,
        **options: Unpack[BuildOptions],
    ) -> TargetBuild:
        return build_target(
            plan,
            tcfg,
            engine=engine,
            downloader=self.downloader,
            cache=self.cache,
            resolve=self.resolve,
            workdir=self.tmp / "work",
            log_dir=self.tmp / "logs",
            progress=self.events.append,
            **options,
        )
