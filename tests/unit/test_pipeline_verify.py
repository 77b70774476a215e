"""``build --verify``: a wheelhouse that fails verify is not published (the previous one
stays) unless ``--partial``. The engine, the plan, the builder and verify are fakes."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path
from typing import Any

import pytest
from packaging.utils import canonicalize_name

from orchestrator import pipeline
from orchestrator.model import Artifact, PackagePlan, Plan, TargetBuild, TargetPlan
from orchestrator.pipeline import BuildOptions, run_build
from orchestrator.pypi.index import IndexConfig
from orchestrator.session import Session
from orchestrator.targets import Arch, Target
from orchestrator.wheelhouse.report import VerifyReport
from tests.wheelfiles import write_wheel

ARM = Target.parse("cp311-manylinux_2_36_aarch64")
SIX = PackagePlan(name=canonicalize_name("six"), version="1.17.0", action="download")


class FakeEngine:
    def __init__(self, *, builder: str | None = None) -> None:
        self.client = None

    def ping(self) -> None:
        return None

    def image_digest(self, _image: str, _platform: str) -> str:
        return "sha256:" + "0" * 64

    def run_output(self, _image: str, _platform: str, _command: list[str]) -> str:
        return "3.11.2\nglibc 2.36\n"

    def build_arch(self) -> Arch:
        return Arch.X86_64


@pytest.fixture
def verdicts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """What each verify says, in order; the trees it was handed are checked complete."""
    (tmp_path / "requirements.txt").write_text("six==1.17.0\n")
    (tmp_path / "wheelhouse.yaml").write_text(
        f"requirements: requirements.txt\ncache_dir: cache\noutput: out\ntargets: [{ARM.id}]\n"
    )
    wheel = write_wheel(tmp_path, "six", "1.17.0", {"six.py": "X = 1\n"})
    said: list[bool] = []

    def plan_with_index(_self: Session, _modes: Any = None) -> Any:
        plan = Plan(targets=(TargetPlan(target=ARM, packages=(SIX,)),))
        return plan, IndexConfig()

    def build_target(tp: TargetPlan, _tcfg: Any, **_options: Any) -> TargetBuild:
        sha = hashlib.sha256(wheel.read_bytes()).hexdigest()
        made = Artifact(name=SIX.name, version="1.17.0", path=wheel, sha256=sha, origin="pypi")
        return TargetBuild(target=tp.target, artifacts=(made,))

    def verify_one(_session: Session, path: Path, tcfg: Any, _engine: Any, _say: Any) -> Any:
        assert (path / "requirements.txt").is_file()
        return VerifyReport(target=tcfg.target, ok=said.pop(0), packages=(), install_log_tail="")

    monkeypatch.setattr(Session, "plan_with_index", plan_with_index)
    monkeypatch.setattr(pipeline, "DockerEngine", FakeEngine)
    monkeypatch.setattr(pipeline, "build_target", build_target)
    monkeypatch.setattr(pipeline, "verify_one", verify_one)
    monkeypatch.chdir(tmp_path)
    return said


def build(**options: Any) -> pipeline.BuildRun:
    session = Session.open(Path("wheelhouse.yaml"), None, [], [])
    return run_build(session, BuildOptions(verify=True, **options), print, lambda _e: None)


def test_a_wheelhouse_that_fails_verify_keeps_the_previous_one(verdicts: list[bool]) -> None:
    verdicts += [True, False]
    first = build()
    published = Path("out", ARM.id).readlink()

    second = build()

    assert first.unpublished == {} and [r.ok for r in first.verified] == [True]
    assert second.unpublished == {ARM.id: "verify failed"}
    assert [r.ok for r in second.verified] == [False]
    assert Path("out", ARM.id).readlink() == published
    assert second.problem() is not None and second.problem().exit_code == 5  # type: ignore[union-attr]


def test_partial_publishes_a_wheelhouse_that_fails_verify(verdicts: list[bool]) -> None:
    verdicts += [False]
    run = build(partial=True)
    assert run.unpublished == {}
    assert Path("out", ARM.id, "six-1.17.0-py3-none-any.whl").is_file()


def test_a_built_wheel_that_requires_what_the_plan_lacks_is_a_failure(
    tmp_path: Path, verdicts: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An sdist's dependencies may be dynamic: the built wheel's METADATA is checked."""
    wheel = tmp_path / "built" / "six-1.17.0-py3-none-any.whl"
    wheel.parent.mkdir()
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(
            "six-1.17.0.dist-info/METADATA",
            "Metadata-Version: 2.1\nName: six\nVersion: 1.17.0\nRequires-Dist: tomli>=2\n",
        )

    def build_target(tp: TargetPlan, _tcfg: Any, **_options: Any) -> TargetBuild:
        sha = hashlib.sha256(wheel.read_bytes()).hexdigest()
        made = Artifact(name=SIX.name, version="1.17.0", path=wheel, sha256=sha, origin="built")
        return TargetBuild(target=tp.target, artifacts=(made,))

    monkeypatch.setattr(pipeline, "build_target", build_target)

    run = build()

    assert [(f.name, f.reason) for f in run.builds[0].failures] == [
        (
            "six",
            "its built wheel requires tomli>=2 (needed by six 1.17.0 on this target), which "
            "the plan does not hold: add it to the requirements",
        )
    ]
    assert run.unpublished == {ARM.id: "1 package(s) missing: six"}
    assert verdicts == []  # nothing to verify: nothing was published
