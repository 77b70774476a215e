"""The pure closure check: pins + each pin's Requires-Dist, evaluated for the target."""

from __future__ import annotations

from collections.abc import Mapping

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from orchestrator.model import Pin
from orchestrator.plan.closure import Conflict, Missing, check_closure
from orchestrator.targets import Target

BOOKWORM = Target.parse("cp311-manylinux_2_36_aarch64").with_full_version("3.11.2")
CP312 = Target.parse("cp312-manylinux_2_36_aarch64")
REDIS = {
    "redis": (
        'async-timeout>=4.0.3; python_full_version < "3.11.3"',
        'hiredis>=3.0.0; extra == "hiredis"',
    )
}


def named(requires: Mapping[str, tuple[str, ...]]) -> dict[NormalizedName, tuple[str, ...]]:
    return {canonicalize_name(k): v for k, v in requires.items()}


def pin(name: str, version: str, *extras: str) -> Pin:
    return Pin(name=canonicalize_name(name), version=Version(version), extras=frozenset(extras))


def test_a_dependency_for_this_python_only_is_missing_with_the_reason() -> None:
    closure = check_closure(BOOKWORM, [pin("redis", "5.2.1")], named(REDIS))
    assert closure.missing == (
        Missing(
            name=canonicalize_name("async-timeout"),
            requirement="async-timeout>=4.0.3",
            needed_by="redis 5.2.1",
            why="python_full_version 3.11.2 < 3.11.3",
        ),
    )
    assert closure.missing[0].sentence == (
        "needed by redis 5.2.1 on this target (python_full_version 3.11.2 < 3.11.3)"
    )


def test_the_same_pins_are_closed_on_a_newer_python() -> None:
    assert check_closure(CP312, [pin("redis", "5.2.1")], named(REDIS)).closed
    late_311 = Target.parse("cp311-manylinux_2_36_aarch64").with_full_version("3.11.11")
    assert check_closure(late_311, [pin("redis", "5.2.1")], named(REDIS)).closed


def test_x_y_0_is_what_an_unknown_micro_version_assumes() -> None:
    assumed = Target.parse("cp311-manylinux_2_36_aarch64")
    assert [
        m.name for m in check_closure(assumed, [pin("redis", "5.2.1")], named(REDIS)).missing
    ] == ["async-timeout"]


def test_extras_asked_for_bring_their_requirements() -> None:
    closure = check_closure(CP312, [pin("redis", "5.2.1", "hiredis")], named(REDIS))
    assert [(m.name, m.requirement, m.why) for m in closure.missing] == [
        ("hiredis", "hiredis>=3.0.0", "extra hiredis")
    ]


def test_an_extra_asked_for_by_a_dependent_counts() -> None:
    requires = {"app": ("redis[hiredis]>=5",), **REDIS}
    closure = check_closure(CP312, [pin("app", "1.0"), pin("redis", "5.2.1")], named(requires))
    assert [m.name for m in closure.missing] == ["hiredis"]


def test_a_pin_outside_a_dependents_specifier_is_a_conflict() -> None:
    pins = [pin("redis", "5.2.1"), pin("async-timeout", "4.0.2")]
    closure = check_closure(BOOKWORM, pins, named(REDIS))
    assert closure.missing == ()
    assert closure.conflicts == (
        Conflict(
            name=canonicalize_name("async-timeout"),
            pinned="4.0.2",
            requirement="async-timeout>=4.0.3",
            needed_by="redis 5.2.1",
        ),
    )
    assert closure.conflicts[0].sentence == (
        "redis 5.2.1 requires async-timeout>=4.0.3, but async-timeout 4.0.2 is pinned"
    )


def test_platform_markers_are_the_targets_not_the_hosts() -> None:
    requires = {
        "app": ('pywin32; sys_platform == "win32"', 'uvloop; platform_machine == "aarch64"')
    }
    closure = check_closure(CP312, [pin("app", "1.0")], named(requires))
    assert [(m.name, m.why) for m in closure.missing] == [
        ("uvloop", "platform_machine aarch64 == aarch64")
    ]


def test_a_broken_requires_dist_line_is_skipped_as_pip_does() -> None:
    assert check_closure(
        CP312, [pin("app", "1.0")], named({"app": ("not a requirement ===",)})
    ).closed
