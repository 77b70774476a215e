"""Fixtures shared by the integration tests.

``example_arm64_build`` is the most expensive thing in the suite: the shipped example
(examples/pi-backend) planned, built for linux/arm64 (five sdists, under QEMU unless
the builder cross-compiles), collected and verified in a clean arm64 container, with
the real engine and the real PyPI. It runs once per session; every test that needs
facts about a real example build (wheelhouse layout, psycopg2's build requirements ...)
asserts on this one run instead of building again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from orchestrator.builder import ProgressEvent
from orchestrator.pipeline import BuildOptions, BuildRun, run_build
from orchestrator.session import Session

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_CONFIG = REPO / "examples" / "pi-backend" / "wheelhouse.local.yaml"


@dataclass(frozen=True, kw_only=True)
class ExampleBuild:
    """One ``run_build`` of the example with ``--verify``, and what it reported."""

    session: Session
    run: BuildRun
    #: The output root (the session's ``config.output``), in a session tmp dir.
    output: Path
    #: ``WHEELHOUSE_CACHE_DIR`` of the run: downloads, the build cache, logs.
    cache_dir: Path
    seconds: float
    events: tuple[ProgressEvent, ...]
    #: What the pipeline said (the lines ``wheelhouse build`` prints).
    messages: tuple[str, ...]

    @property
    def target_id(self) -> str:
        (target,) = self.session.targets
        return target.target.id

    @property
    def wheelhouse(self) -> Path:
        """``<output>/<target-id>``: the published symlink."""
        return self.output / self.target_id


@pytest.fixture(scope="session")
def example_arm64_build(tmp_path_factory: pytest.TempPathFactory) -> ExampleBuild:
    """examples/pi-backend/wheelhouse.local.yaml, --arch arm64, built and verified once.

    Output and cache live in a session tmp dir (the config and the environment are left
    alone), so the run starts from an empty wheelhouse cache; BuildKit's own cache (the
    toolchain stage) is shared with the machine.
    """
    root = tmp_path_factory.mktemp("example-arm64")
    opened = Session.open(EXAMPLE_CONFIG, None, [], ["arm64"])
    session = replace(
        opened,
        config=replace(opened.config, output=root / "wheelhouse", cache_dir=root / "cache"),
        cache_dir=root / "cache",
    )
    events: list[ProgressEvent] = []
    messages: list[str] = []
    start = time.monotonic()
    run = run_build(session, BuildOptions(verify=True), messages.append, events.append)
    return ExampleBuild(
        session=session,
        run=run,
        output=session.config.output,
        cache_dir=session.cache_dir,
        seconds=time.monotonic() - start,
        events=tuple(events),
        messages=tuple(messages),
    )
