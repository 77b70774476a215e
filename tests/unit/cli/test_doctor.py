"""``doctor`` checks with a fake engine and a fake binfmt_misc directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from orchestrator.build.engine import ImageState, PlatformImage
from orchestrator.cli.doctor import (
    Check,
    binfmt_registered,
    check_base_image,
    check_build_platform,
    check_buildx,
    check_cross_image,
    check_engine,
    check_platform,
    check_registry,
    host_arch,
    run_doctor,
)
from orchestrator.config import TargetConfig
from orchestrator.errors import EngineError, RegistryError, WheelhouseError
from orchestrator.targets import Arch, Target

ARM_TARGET = Target.parse("cp311-manylinux_2_36_aarch64")
AMD_TARGET = Target.parse("cp311-manylinux_2_36_x86_64")
QEMU_OK = "enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: PF\n"


class FakeEngine:
    def __init__(
        self,
        *,
        up: bool = True,
        buildx: str | None = "0.13.1",
        platforms: tuple[str, ...] = ("linux/amd64", "linux/arm64"),
        images: dict[str, ImageState] | None = None,
        runs: str | None = None,
        build: Arch | EngineError = Arch.X86_64,
        for_platform: dict[tuple[str, str], PlatformImage] | None = None,
    ) -> None:
        self.up, self.buildx, self.platforms = up, buildx, platforms
        self.images = images or {}
        self.runs = runs
        self.ran: list[tuple[str, str]] = []
        self.build = build
        self.for_platform = for_platform or {}

    def ping(self) -> None:
        if not self.up:
            raise EngineError("could not ping the Docker engine: connection refused")

    def buildx_version(self) -> str:
        if self.buildx is None:
            raise EngineError("docker buildx is not available: unknown command")
        return self.buildx

    def buildx_platforms(self) -> tuple[str, ...]:
        return self.platforms

    def build_arch(self) -> Arch:
        if isinstance(self.build, EngineError):
            raise self.build
        return self.build

    def image_state(self, image: str) -> ImageState:
        return self.images.get(image, "missing")

    def platform_image(self, image: str, platform: str) -> PlatformImage:
        if image == "broken":
            raise EngineError("could not inspect image broken: timeout", hint="start Docker")
        return self.for_platform.get((image, platform), PlatformImage(state="missing"))

    def run_true(self, image: str, platform: str) -> str | None:
        self.ran.append((image, platform))
        return self.runs


def binfmt(tmp_path: Path, text: str | None = QEMU_OK) -> Path:
    if text is not None:
        (tmp_path / "qemu-aarch64").write_text(text)
    return tmp_path


def tcfg(target: Target, image: str, **options: Any) -> TargetConfig:
    return TargetConfig(
        target=target, base_image=image, runtime_image=image, package_manager="apt", **options
    )


def test_engine_up_and_down() -> None:
    assert check_engine(FakeEngine()).ok
    down = check_engine(FakeEngine(up=False))
    assert not down.ok
    assert down.fix is not None and "dockerd &" in down.fix


@pytest.mark.parametrize(
    ("version", "ok"), [("0.13.1", True), ("0.11.0", True), ("0.10.5", False), (None, False)]
)
def test_buildx_at_least_0_11(version: str | None, ok: bool) -> None:
    check = check_buildx(FakeEngine(buildx=version))
    assert check.ok is ok
    if not ok:
        assert check.fix is not None and "docker-buildx" in check.fix


def test_binfmt_needs_the_fix_binary_flag(tmp_path: Path) -> None:
    assert binfmt_registered(Arch.AARCH64, binfmt(tmp_path))
    assert not binfmt_registered(Arch.AARCH64, binfmt(tmp_path, QEMU_OK.replace("PF", "P")))
    assert not binfmt_registered(Arch.AARCH64, binfmt(tmp_path, "disabled\nflags: PF\n"))
    assert not binfmt_registered(Arch.ARMV7L, tmp_path)


def test_the_native_platform_needs_nothing(tmp_path: Path) -> None:
    check = check_platform(FakeEngine(platforms=()), Arch.X86_64, Arch.X86_64, tmp_path)
    assert check == Check(name="platform linux/amd64", ok=True, detail="native")


def test_an_emulated_platform_is_probed_with_true(tmp_path: Path) -> None:
    engine = FakeEngine()
    check = check_platform(engine, Arch.AARCH64, Arch.X86_64, binfmt(tmp_path), "img:arm64")
    assert check.ok
    assert engine.ran == [("img:arm64", "linux/arm64")]


def test_no_qemu_says_how_to_install_it(tmp_path: Path) -> None:
    check = check_platform(
        FakeEngine(platforms=("linux/amd64",)), Arch.AARCH64, Arch.X86_64, tmp_path
    )
    assert not check.ok
    assert check.fix is not None
    assert "tonistiigi/binfmt --install arm64" in check.fix
    assert "qemu-user-static binfmt-support" in check.fix


def test_qemu_registered_after_dockerd_started(tmp_path: Path) -> None:
    engine = FakeEngine(platforms=("linux/amd64",))
    check = check_platform(engine, Arch.AARCH64, Arch.X86_64, binfmt(tmp_path))
    assert not check.ok
    assert check.fix is not None and "restart dockerd" in check.fix


def test_a_probe_that_fails_is_reported(tmp_path: Path) -> None:
    engine = FakeEngine(runs="exec /usr/bin/true: exec format error")
    check = check_platform(engine, Arch.AARCH64, Arch.X86_64, binfmt(tmp_path), "img:arm64")
    assert not check.ok
    assert "exec format error" in check.detail


@pytest.mark.parametrize(
    ("state", "ok"), [("present", True), ("pullable", True), ("missing", False)]
)
def test_base_image(state: ImageState, ok: bool) -> None:
    check = check_base_image(FakeEngine(images={"img": state}), tcfg(ARM_TARGET, "img"))
    assert (check.ok, check.detail if ok else "") == (ok, state if ok else "")


def test_run_doctor_stops_when_the_engine_is_down(tmp_path: Path) -> None:
    checks = run_doctor(FakeEngine(up=False), [tcfg(ARM_TARGET, "img")], binfmt_dir=tmp_path)
    assert [c.name for c in checks] == ["engine"]


def test_run_doctor_checks_everything_in_order(tmp_path: Path) -> None:
    engine = FakeEngine(
        images={"img:arm64": "present", "img:amd64": "pullable"},
        for_platform={("img:amd64", "linux/amd64"): PlatformImage(state="present")},
    )
    targets = [
        tcfg(ARM_TARGET, "img:arm64", cross_image="img:amd64"),
        tcfg(AMD_TARGET, "img:amd64"),
    ]
    checks = run_doctor(engine, targets, machine="x86_64", binfmt_dir=binfmt(tmp_path))
    assert [(c.name, c.ok) for c in checks] == [
        ("engine", True),
        ("buildx", True),
        ("build platform", True),
        ("platform linux/arm64", True),
        ("platform linux/amd64", True),
        ("base image img:arm64 (cp311-manylinux_2_36_aarch64)", True),
        ("base image img:amd64 (cp311-manylinux_2_36_x86_64)", True),
        ("cross image img:amd64 (cp311-manylinux_2_36_aarch64)", True),
    ]
    assert engine.ran == [("img:arm64", "linux/arm64")]


def test_the_build_platform_is_the_builders_not_this_machines(tmp_path: Path) -> None:
    # An arm64 builder driven from an amd64 machine: arm64 is native, amd64 is cross-compiled.
    engine = FakeEngine(
        build=Arch.AARCH64,
        images={"img:arm64": "present", "img:amd64": "present"},
        for_platform={("img:arm64", "linux/arm64"): PlatformImage(state="present")},
    )
    targets = [
        tcfg(ARM_TARGET, "img:arm64"),
        tcfg(AMD_TARGET, "img:amd64", cross_image="img:arm64"),
    ]
    checks = run_doctor(engine, targets, machine="x86_64", binfmt_dir=tmp_path)
    by_name = {c.name: c for c in checks}
    assert by_name["build platform"] == Check(
        name="build platform",
        ok=True,
        detail="linux/arm64 (the buildx builder's native platform)",
    )
    assert by_name["platform linux/arm64"].detail == "native"
    assert by_name["cross image img:arm64 (cp311-manylinux_2_36_x86_64)"] == Check(
        name="cross image img:arm64 (cp311-manylinux_2_36_x86_64)",
        ok=True,
        detail="present for linux/arm64",
    )
    assert not any(c.name.startswith("cross image img:amd64") for c in checks)


def test_a_builder_that_cannot_say_leaves_this_machine_as_the_build_platform(
    tmp_path: Path,
) -> None:
    failure = EngineError("`docker buildx inspect` failed: ERROR: no builder", hint="check it")
    engine = FakeEngine(build=failure)
    checks = run_doctor(engine, [tcfg(AMD_TARGET, "img")], machine="x86_64", binfmt_dir=tmp_path)
    assert checks[2:4] == [
        Check(
            name="build platform",
            ok=False,
            detail="`docker buildx inspect` failed: ERROR: no builder",
            fix="check it",
        ),
        Check(name="platform linux/amd64", ok=True, detail="native"),
    ]


def test_without_buildx_the_build_platform_is_not_asked(tmp_path: Path) -> None:
    engine = FakeEngine(buildx=None, build=EngineError("must not be asked"))
    checks = run_doctor(engine, [tcfg(AMD_TARGET, "img")], machine="x86_64", binfmt_dir=tmp_path)
    assert [c.name for c in checks] == [
        "engine",
        "buildx",
        "platform linux/amd64",
        "base image img (cp311-manylinux_2_36_x86_64)",
    ]


def test_only_targets_that_are_cross_compiled_get_a_cross_image_check(tmp_path: Path) -> None:
    alpine = TargetConfig.default(Target.parse("cp312-musllinux_1_2_aarch64"))
    emulated = tcfg(Target.parse("cp312-manylinux_2_36_aarch64"), "emu", build_mode="emulate")
    debian = tcfg(ARM_TARGET, "deb:arm64")  # no cross_image: the base image itself
    engine = FakeEngine()
    checks = run_doctor(
        engine, [alpine, emulated, debian, tcfg(AMD_TARGET, "x")], binfmt_dir=tmp_path
    )
    cross = [c.name for c in checks if c.name.startswith("cross image")]
    assert cross == ["cross image deb:arm64 (cp311-manylinux_2_36_aarch64)"]


def test_a_cross_image_pulled_from_the_registry_is_fine() -> None:
    engine = FakeEngine(
        for_platform={("python:3.11-slim", "linux/amd64"): PlatformImage(state="pullable")}
    )
    check = check_cross_image(engine, tcfg(ARM_TARGET, "python:3.11-slim"), Arch.X86_64)
    assert check == Check(
        name="cross image python:3.11-slim (cp311-manylinux_2_36_aarch64)",
        ok=True,
        detail="not present for linux/amd64; the registry has it, the first cross build pulls it",
    )


def test_a_local_base_image_of_the_target_platform_is_no_cross_image() -> None:
    local = PlatformImage(state="missing", local_platform="linux/arm64")
    engine = FakeEngine(for_platform={("py:arm64", "linux/amd64"): local})
    check = check_cross_image(engine, tcfg(ARM_TARGET, "py:arm64"), Arch.X86_64)
    assert check == Check(
        name="cross image py:arm64 (cp311-manylinux_2_36_aarch64)",
        ok=False,
        detail="the local tag holds linux/arm64, and no registry has it for linux/amd64 "
        "(the build platform)",
        fix="set targets[].cross_image to an image for linux/amd64 with the same Python and C "
        "library (Debian suite, musl) as py:arm64 (build or load it; from a registry: `docker "
        "pull --platform linux/amd64 IMAGE` then `docker tag`), or build_mode: emulate (QEMU "
        "only)",
    )


def test_a_cross_image_that_is_nowhere() -> None:
    target = tcfg(ARM_TARGET, "py:arm64", cross_image="py:amd64")
    check = check_cross_image(FakeEngine(), target, Arch.X86_64)
    assert (check.name, check.ok) == ("cross image py:amd64 (cp311-manylinux_2_36_aarch64)", False)
    assert (
        check.detail == "not present, and no registry has it for linux/amd64 (the build platform)"
    )


def test_a_cross_image_the_engine_cannot_inspect() -> None:
    check = check_cross_image(FakeEngine(), tcfg(ARM_TARGET, "broken"), Arch.X86_64)
    assert check == Check(
        name="cross image broken (cp311-manylinux_2_36_aarch64)",
        ok=False,
        detail="could not inspect image broken: timeout",
        fix="start Docker",
    )


def test_check_build_platform() -> None:
    assert check_build_platform(FakeEngine(build=Arch.AARCH64)) == (
        Check(
            name="build platform",
            ok=True,
            detail="linux/arm64 (the buildx builder's native platform)",
        ),
        Arch.AARCH64,
    )
    failed, arch = check_build_platform(FakeEngine(build=EngineError("no", hint="fix")))
    assert (failed, arch) == (
        Check(name="build platform", ok=False, detail="no", fix="fix"),
        None,
    )


def test_host_arch() -> None:
    assert host_arch("x86_64") is Arch.X86_64
    assert host_arch("aarch64") is Arch.AARCH64
    assert host_arch("sparc64") is None


def test_an_armv7l_target_needs_qemu_arm_and_its_armhf_image(tmp_path: Path) -> None:
    # 32-bit Raspberry Pi OS: linux/arm/v7, qemu-user-static's `qemu-arm` entry (a 64-bit
    # ARM handler does not run armhf binaries), the armhf base image probed with `true`.
    armhf = "wheelhouse-test/python:3.11-bookworm-armhf"
    amd64 = "wheelhouse-test/python:3.11-bookworm-amd64"
    target = tcfg(Target.parse("cp311-manylinux_2_36_armv7l"), armhf, cross_image=amd64)
    engine = FakeEngine(
        platforms=("linux/amd64", "linux/arm64", "linux/arm/v7"),
        for_platform={(amd64, "linux/amd64"): PlatformImage(state="present")},
    )
    only_arm64 = run_doctor(engine, [target], machine="x86_64", binfmt_dir=binfmt(tmp_path))
    (platform,) = [c for c in only_arm64 if c.name == "platform linux/arm/v7"]
    assert not platform.ok
    assert str(tmp_path / "qemu-arm") in platform.detail
    assert platform.fix is not None and "tonistiigi/binfmt --install arm`" in platform.fix
    assert engine.ran == []

    (tmp_path / "qemu-arm").write_text(QEMU_OK.replace("aarch64", "arm"))
    engine.images[armhf] = "present"
    checks = run_doctor(engine, [target], machine="x86_64", binfmt_dir=tmp_path)
    assert [(c.name, c.ok) for c in checks][3:] == [
        ("platform linux/arm/v7", True),
        (f"base image {armhf} (cp311-manylinux_2_36_armv7l)", True),
        (f"cross image {amd64} (cp311-manylinux_2_36_armv7l)", True),
    ]
    assert engine.ran == [(armhf, "linux/arm/v7")]


class Registry:
    def __init__(self, error: WheelhouseError | None = None) -> None:
        self.error = error

    def registry_status(self, ref: str) -> str:
        if self.error:
            raise self.error
        return f"reachable; {ref} is not pushed yet"


def test_the_registry_check_passes_or_fails_with_the_fix() -> None:
    assert check_registry(Registry(), "r/app:n") == Check(
        name="registry for r/app:n",
        ok=True,
        detail="reachable; r/app:n is not pushed yet (push rights show on the first push)",
    )
    refused = RegistryError("the registry refused ...", hint="`docker login r`")
    assert check_registry(Registry(refused), "r/app:n") == Check(
        name="registry for r/app:n",
        ok=False,
        detail="the registry refused ...",
        fix="`docker login r`",
    )
