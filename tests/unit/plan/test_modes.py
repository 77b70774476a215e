"""The build mode a plan shows: ``BuildModes.choose``, then what the knowledge file says."""

from __future__ import annotations

from types import MappingProxyType

from packaging.utils import canonicalize_name

from orchestrator.config import TargetConfig
from orchestrator.knowledge import Knowledge, PackageKnowledge
from orchestrator.plan.modes import (
    EMULATE_ONLY,
    RUST,
    BuildModes,
    ModeChoice,
    plan_modes,
    planned_mode,
)
from orchestrator.targets import Arch, Target

ARM = Target.parse("cp311-manylinux_2_36_aarch64")
X86 = Target.parse("cp311-manylinux_2_36_x86_64")
DEBIAN = TargetConfig(
    target=ARM, base_image="debian-py:arm64", runtime_image="debian-py:arm64", package_manager="apt"
)
ALPINE = TargetConfig.default(Target.parse("cp312-musllinux_1_2_aarch64"))
CRCMOD = canonicalize_name("crcmod")
PSYCOPG2 = canonicalize_name("psycopg2")
ORJSON = canonicalize_name("orjson")
KNOWLEDGE = Knowledge(
    packages=MappingProxyType(
        {
            PSYCOPG2: PackageKnowledge(apt=("libpq-dev",), emulate_only=True, notes="pg_config"),
            ORJSON: PackageKnowledge(rust=True),
            CRCMOD: PackageKnowledge(notes="only the compiler"),
        }
    )
)
ON_X86 = BuildModes(build_arch=Arch.X86_64)
AUTO = ModeChoice(mode="cross", fallback=True, reason="auto: cross first, QEMU if it fails")


def test_what_the_knowledge_file_does_not_stop_is_choose_s_choice() -> None:
    assert planned_mode(ON_X86, DEBIAN, KNOWLEDGE, CRCMOD) == AUTO
    assert planned_mode(ON_X86, DEBIAN, Knowledge(), PSYCOPG2) == AUTO


def test_auto_emulates_emulate_only_and_rust_packages() -> None:
    assert planned_mode(ON_X86, DEBIAN, KNOWLEDGE, PSYCOPG2) == ModeChoice(
        mode="emulate", reason=f"{EMULATE_ONLY}: pg_config"
    )
    assert planned_mode(ON_X86, DEBIAN, KNOWLEDGE, ORJSON) == ModeChoice(
        mode="emulate", reason=RUST
    )


def test_a_forced_cross_tries_emulate_only_packages_but_never_rust() -> None:
    forced = BuildModes(build_arch=Arch.X86_64, override="cross")
    assert planned_mode(forced, DEBIAN, KNOWLEDGE, PSYCOPG2) == ModeChoice(
        mode="cross", reason="--mode cross"
    )
    assert planned_mode(forced, DEBIAN, KNOWLEDGE, ORJSON) == ModeChoice(
        mode="cross",
        reason="--mode cross",
        impossible="--mode cross, but Rust builds are not cross-compiled (no Rust std library "
        "for the target)",
    )


def test_choose_s_emulate_native_and_impossible_choices_are_kept() -> None:
    emulate = BuildModes(build_arch=Arch.X86_64, emulate=frozenset({PSYCOPG2}))
    assert planned_mode(emulate, DEBIAN, KNOWLEDGE, PSYCOPG2) == ModeChoice(
        mode="emulate", reason="--emulate"
    )
    on_arm = BuildModes(build_arch=Arch.AARCH64)
    assert planned_mode(on_arm, DEBIAN, KNOWLEDGE, ORJSON) == ModeChoice(
        mode="native", reason="the build machine is aarch64"
    )
    forced = BuildModes(build_arch=Arch.X86_64, override="cross")
    assert planned_mode(forced, ALPINE, KNOWLEDGE, ORJSON) == ModeChoice(
        mode="cross",
        reason="--mode cross",
        impossible="--mode cross, but no tested cross toolchain for Alpine (apk) targets",
    )


def test_plan_modes_looks_up_each_target_s_config() -> None:
    asked: list[str] = []

    def target_config(target: Target) -> TargetConfig:
        asked.append(target.id)
        return DEBIAN if target == ARM else TargetConfig.default(target)

    mode_for = plan_modes(ON_X86, KNOWLEDGE, target_config)

    assert mode_for(CRCMOD, ARM) == AUTO
    assert mode_for(CRCMOD, X86) == ModeChoice(mode="native", reason="the build machine is x86_64")
    assert asked == [ARM.id, X86.id]
