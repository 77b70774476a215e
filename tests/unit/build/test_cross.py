"""Which mode a package gets, and what the cross toolchain stage installs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from orchestrator.build.cross import cross_packages, cross_triplet, target_cross_packages
from orchestrator.config import PackageConfig, TargetConfig, parse_config
from orchestrator.plan.modes import BuildModes, ModeChoice, cross_problem, host_arch, is_musl_cross
from orchestrator.targets import CROSS_ARCHES, Arch, Target

ARM = Target.parse("cp311-manylinux_2_36_aarch64")
X86 = Target.parse("cp311-manylinux_2_36_x86_64")
DEBIAN = TargetConfig(
    target=ARM, base_image="debian-py:arm64", runtime_image="debian-py:arm64", package_manager="apt"
)
ALPINE = TargetConfig.default(Target.parse("cp312-musllinux_1_2_aarch64"))
CRCMOD = canonicalize_name("crcmod")
ON_X86 = BuildModes(build_arch=Arch.X86_64)


def test_auto_cross_compiles_a_foreign_debian_target_with_qemu_as_the_fallback() -> None:
    assert ON_X86.choose(CRCMOD, DEBIAN) == ModeChoice(
        mode="cross", fallback=True, reason="auto: cross first, QEMU if it fails"
    )


def test_the_build_machines_own_architecture_is_native() -> None:
    native = TargetConfig(
        target=X86, base_image="x", runtime_image="x", package_manager="apt", build_mode="cross"
    )
    assert ON_X86.choose(CRCMOD, native) == ModeChoice(
        mode="native", reason="the build machine is x86_64"
    )
    assert BuildModes(build_arch=Arch.AARCH64).choose(CRCMOD, DEBIAN).mode == "native"


def test_auto_emulates_alpine_and_none_targets() -> None:
    assert ON_X86.choose(CRCMOD, ALPINE) == ModeChoice(
        mode="emulate", reason="no tested cross toolchain for Alpine (apk) targets"
    )
    none = TargetConfig(
        target=Target.parse("cp313-musllinux_1_2_aarch64"),
        base_image="musl-python:3.13-arm64",
        runtime_image="musl-python:3.13-arm64",
        package_manager="none",
    )
    assert ON_X86.choose(CRCMOD, none).reason == (
        "a musl target without a package manager cross-compiles only with a "
        "targets[].cross_image: the same Python and musl for the build machine, with apt"
    )
    glibc_none = replace(none, target=ARM)
    assert ON_X86.choose(CRCMOD, glibc_none) == ModeChoice(
        mode="emulate",
        reason="a glibc target without a package manager brings its own (native) compiler",
    )


def test_auto_cross_compiles_a_musl_target_with_its_own_musl_gcc_and_a_cross_image() -> None:
    musl = TargetConfig(
        target=Target.parse("cp313-musllinux_1_2_aarch64"),
        base_image="musl-python:3.13-arm64",
        runtime_image="musl-python:3.13-arm64",
        package_manager="none",
        cross_image="musl-python:3.13-amd64",
    )
    assert ON_X86.choose(CRCMOD, musl) == ModeChoice(
        mode="cross", fallback=True, reason="auto: cross first, QEMU if it fails"
    )
    assert is_musl_cross(musl)
    assert not is_musl_cross(DEBIAN)
    assert cross_triplet(musl) == "aarch64-linux-musl"
    assert cross_triplet(DEBIAN) == "aarch64-linux-gnu"
    # The target brings libc, headers and specs: only Debian's cross gcc is installed, with
    # the build machine's make, patch and pkgconf (the config tools' answers), and its
    # own compilers.
    assert target_cross_packages(musl, ("gcc", "libffi-dev")) == (
        "g++",
        "gcc",
        "gcc-aarch64-linux-gnu",
        "libc6-dev",
        "make",
        "patch",
        "pkgconf",
    )
    assert target_cross_packages(DEBIAN, ("gcc",)) == (
        "g++",
        "gcc",
        "gcc-aarch64-linux-gnu",
        "libc6-dev",
        "libc6-dev-arm64-cross",
        "make",
        "pkgconf",
    )
    # The base image itself is no cross image: it is the target's architecture only.
    same = replace(musl, cross_image=musl.base_image)
    assert ON_X86.choose(CRCMOD, same).mode == "emulate"


def test_who_asked_for_which_mode_most_specific_first() -> None:
    target_says = TargetConfig(
        target=ARM, base_image="x", runtime_image="x", package_manager="apt", build_mode="cross"
    )
    modes = BuildModes(build_arch=Arch.X86_64, packages={CRCMOD: "emulate"})
    assert modes.requested(CRCMOD, target_says) == (
        "emulate",
        "packages.crcmod.build_mode: emulate",
    )
    assert modes.requested(canonicalize_name("cffi"), target_says) == (
        "cross",
        "targets[cp311-manylinux_2_36_aarch64].build_mode: cross",
    )
    override = BuildModes(
        build_arch=Arch.X86_64, packages={CRCMOD: "emulate"}, override="cross", emulate=frozenset()
    )
    assert override.requested(CRCMOD, target_says) == ("cross", "--mode cross")
    emulate = BuildModes(build_arch=Arch.X86_64, override="cross", emulate=frozenset({CRCMOD}))
    assert emulate.requested(CRCMOD, DEBIAN) == ("emulate", "--emulate")
    assert ON_X86.requested(CRCMOD, DEBIAN) == ("auto", "auto")


def test_forced_modes_do_not_fall_back() -> None:
    cross = BuildModes(build_arch=Arch.X86_64, override="cross")
    assert cross.choose(CRCMOD, DEBIAN) == ModeChoice(mode="cross", reason="--mode cross")
    emulate = BuildModes(build_arch=Arch.X86_64, override="emulate")
    assert emulate.choose(CRCMOD, DEBIAN) == ModeChoice(mode="emulate", reason="--mode emulate")


def test_forced_cross_where_there_is_no_cross_path_is_impossible() -> None:
    choice = BuildModes(build_arch=Arch.X86_64, override="cross").choose(CRCMOD, ALPINE)
    assert choice.impossible == (
        "--mode cross, but no tested cross toolchain for Alpine (apk) targets"
    )


def test_cross_problem_per_target_kind() -> None:
    assert cross_problem(DEBIAN, Arch.X86_64) is None
    musl_apt = TargetConfig(
        target=Target.parse("cp312-musllinux_1_2_aarch64"),
        base_image="x",
        runtime_image="x",
        package_manager="apt",
    )
    assert cross_problem(musl_apt, Arch.X86_64) == "no cross toolchain for musllinux targets"


def test_from_config_takes_package_modes_and_the_command_line() -> None:
    config = parse_config(
        {"packages": {"RPi.GPIO": {"build_mode": "emulate"}, "crcmod": {"apt": ["x"]}}},
        Path("wheelhouse.yaml"),
    )
    modes = BuildModes.from_config(config, override="auto", emulate=["Netifaces"])
    assert dict(modes.packages) == {"rpi-gpio": "emulate"}
    assert modes.override == "auto"
    assert modes.emulate == frozenset({"netifaces"})
    assert config.packages[canonicalize_name("crcmod")] == PackageConfig(apt=("x",))


def test_from_config_takes_the_builders_platform_and_never_asks_the_host_then(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A machine wheelhouse cannot name (riscv64) still builds through an arm64 builder."""
    monkeypatch.setattr("platform.machine", lambda: "riscv64")
    config = parse_config({}, Path("wheelhouse.yaml"))
    modes = BuildModes.from_config(config, build_arch=Arch.AARCH64)
    assert modes.build_arch == Arch.AARCH64
    monkeypatch.setattr("platform.machine", lambda: "x86_64")
    assert BuildModes.from_config(config).build_arch == Arch.X86_64


def test_host_arch_is_this_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("platform.machine", lambda: "aarch64")
    assert host_arch() == Arch.AARCH64
    monkeypatch.setattr("platform.machine", lambda: "x86_64")
    assert BuildModes().build_arch == Arch.X86_64


# --- the cross toolchain stage's packages ---------------------------------------------------------


def test_cross_packages_map_compiler_libc_python_and_libraries_to_the_target() -> None:
    packages = ["gcc", "libc6-dev", "python3-dev", "libffi-dev", "libpq-dev", "pkgconf", "g++"]
    packages.append("linux-libc-dev")
    assert cross_packages(packages, CROSS_ARCHES[Arch.AARCH64], "3.11") == (
        "g++",
        "g++-aarch64-linux-gnu",
        "gcc",
        "gcc-aarch64-linux-gnu",
        "libc6-dev",
        "libc6-dev-arm64-cross",
        "libffi-dev:arm64",
        "libpq-dev:arm64",
        "libpython3.11-dev:arm64",
        "make",
        "pkgconf",
    )


def test_cross_packages_for_x86_64_and_armhf_name_debians_packages() -> None:
    assert cross_packages(("gcc", "python3.12-dev"), CROSS_ARCHES[Arch.X86_64], "3.12") == (
        "g++",
        "gcc",
        "gcc-x86-64-linux-gnu",
        "libc6-dev",
        "libc6-dev-amd64-cross",
        "libpython3.12-dev:amd64",
        "make",
        "pkgconf",
    )
    assert cross_packages(("make", "zlib1g-dev:armhf"), CROSS_ARCHES[Arch.ARMV7L], "3.11") == (
        "g++",
        "gcc",
        "gcc-arm-linux-gnueabihf",
        "libc6-dev",
        "libc6-dev-armhf-cross",
        "make",
        "pkgconf",
        "zlib1g-dev:armhf",
    )
