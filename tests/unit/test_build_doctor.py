"""``doctor`` checks with a fake engine and a fake binfmt_misc directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.config import TargetConfig
from orchestrator.doctor import (
    Check,
    binfmt_registered,
    check_base_image,
    check_buildx,
    check_engine,
    check_platform,
    host_arch,
    run_doctor,
)
from orchestrator.engine import ImageState
from orchestrator.errors import EngineError
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
    ) -> None:
        self.up, self.buildx, self.platforms = up, buildx, platforms
        self.images = images or {}
        self.runs = runs
        self.ran: list[tuple[str, str]] = []

    def ping(self) -> None:
        if not self.up:
            raise EngineError("could not ping the Docker engine: connection refused")

    def buildx_version(self) -> str:
        if self.buildx is None:
            raise EngineError("docker buildx is not available: unknown command")
        return self.buildx

    def buildx_platforms(self) -> tuple[str, ...]:
        return self.platforms

    def image_state(self, image: str) -> ImageState:
        return self.images.get(image, "missing")

    def run_true(self, image: str, platform: str) -> str | None:
        self.ran.append((image, platform))
        return self.runs


def binfmt(tmp_path: Path, text: str | None = QEMU_OK) -> Path:
    if text is not None:
        (tmp_path / "qemu-aarch64").write_text(text)
    return tmp_path


def tcfg(target: Target, image: str) -> TargetConfig:
    return TargetConfig(target=target, base_image=image, runtime_image=image, package_manager="apt")


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
    engine = FakeEngine(images={"img:arm64": "present", "img:amd64": "pullable"})
    targets = [tcfg(ARM_TARGET, "img:arm64"), tcfg(AMD_TARGET, "img:amd64")]
    checks = run_doctor(engine, targets, machine="x86_64", binfmt_dir=binfmt(tmp_path))
    assert [(c.name, c.ok) for c in checks] == [
        ("engine", True),
        ("buildx", True),
        ("platform linux/arm64", True),
        ("platform linux/amd64", True),
        ("base image img:arm64 (cp311-manylinux_2_36_aarch64)", True),
        ("base image img:amd64 (cp311-manylinux_2_36_x86_64)", True),
    ]
    assert engine.ran == [("img:arm64", "linux/arm64")]


def test_host_arch() -> None:
    assert host_arch("x86_64") is Arch.X86_64
    assert host_arch("aarch64") is Arch.AARCH64
    assert host_arch("sparc64") is None
