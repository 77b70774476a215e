"""``run_build`` asks the buildx builder for the build platform and hands it to the plan
and to every target's build. The engine, the plan and the builder are fakes."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest
from packaging.utils import canonicalize_name

from orchestrator import pipeline
from orchestrator.errors import EngineError
from orchestrator.model import BuildFailure, PackagePlan, Plan, TargetBuild, TargetPlan
from orchestrator.pipeline import BuildOptions, run_build
from orchestrator.plan.modes import BuildModes
from orchestrator.pypi.index import IndexConfig
from orchestrator.session import Session
from orchestrator.targets import Arch, Target

ARM = Target.parse("cp311-manylinux_2_36_aarch64")
DOCOPT = PackagePlan(
    name=canonicalize_name("docopt"), version="0.6.2", action="build", file="docopt-0.6.2.tar.gz"
)


class FakeEngine:
    """Answers ``ping`` and ``build_arch``; records the builder it was made for."""

    made: ClassVar[list[str | None]] = []
    arch: ClassVar[Arch | EngineError] = Arch.AARCH64

    def __init__(self, *, builder: str | None = None) -> None:
        FakeEngine.made.append(builder)

    def ping(self) -> None:
        return None

    def image_digest(self, _image: str, _platform: str) -> str:
        return "sha256:" + "0" * 64

    def run_output(self, _image: str, _platform: str, _command: list[str]) -> str:
        return "3.11.2\nglibc 2.36\n"

    def build_arch(self) -> Arch:
        if isinstance(self.arch, EngineError):
            raise self.arch
        return self.arch


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    """A session of a real wheelhouse.yaml; the plan, the engine and build_target faked."""
    (tmp_path / "requirements.txt").write_text("docopt==0.6.2\n")
    (tmp_path / "wheelhouse.yaml").write_text(
        f"requirements: requirements.txt\ncache_dir: cache\ntargets: [{ARM.id}]\n"
        "build:\n  builder: from-yaml\npackages:\n  psycopg2:\n    build_mode: emulate\n"
    )
    seen: dict[str, list[Any]] = {"plan": [], "build": []}

    def plan_with_index(_self: Session, modes: BuildModes | None = None) -> Any:
        seen["plan"].append(modes)
        plan = Plan(targets=(TargetPlan(target=ARM, packages=(DOCOPT,)),))
        return plan, IndexConfig(index_url="https://pypi.org/simple")

    def build_target(tp: TargetPlan, _tcfg: Any, **options: Any) -> TargetBuild:
        seen["build"].append(options["modes"])
        failure = BuildFailure(name=DOCOPT.name, version=DOCOPT.version, reason="faked")
        return TargetBuild(target=tp.target, artifacts=(), failures=(failure,))

    FakeEngine.made = []
    FakeEngine.arch = Arch.AARCH64
    monkeypatch.setattr(Session, "plan_with_index", plan_with_index)
    monkeypatch.setattr(pipeline, "DockerEngine", FakeEngine)
    monkeypatch.setattr(pipeline, "build_target", build_target)
    monkeypatch.chdir(tmp_path)
    return seen


def build(options: BuildOptions) -> pipeline.BuildRun:
    session = Session.open(Path("wheelhouse.yaml"), None, [], [])
    return run_build(session, options, lambda _line: None, lambda _event: None)


def test_the_builders_platform_reaches_the_plan_and_the_build(
    world: dict[str, list[Any]],
) -> None:
    run = build(BuildOptions(mode="cross", emulate=("DocOpt",)))

    expected = BuildModes(
        override="cross",
        emulate=frozenset({canonicalize_name("docopt")}),
        packages={canonicalize_name("psycopg2"): "emulate"},
        build_arch=Arch.AARCH64,
    )
    assert world["plan"] == [expected]
    assert world["build"] == [expected]
    assert FakeEngine.made == ["from-yaml"]
    assert run.unpublished == {ARM.id: "1 package(s) missing: docopt"}


def test_builder_option_wins_over_wheelhouse_yaml(world: dict[str, list[Any]]) -> None:
    FakeEngine.arch = Arch.X86_64

    build(BuildOptions(builder="arm-nodes"))

    assert FakeEngine.made == ["arm-nodes"]
    assert [m.build_arch for m in world["build"]] == [Arch.X86_64]


def test_a_builder_that_cannot_say_stops_the_build_before_planning(
    world: dict[str, list[Any]],
) -> None:
    FakeEngine.arch = EngineError("`docker buildx inspect` failed: no builder")

    with pytest.raises(EngineError, match="docker buildx inspect"):
        build(BuildOptions())

    assert world == {"plan": [], "build": []}
