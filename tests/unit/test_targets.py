"""Targets: ids, platform tags, wheel tags and markers, all computed for the target."""

from __future__ import annotations

import platform

import pytest
from packaging.markers import Marker
from packaging.tags import Tag, sys_tags

from orchestrator.errors import TargetError
from orchestrator.targets import Arch, Target

MUSL_ARM = "cp312-musllinux_1_2_aarch64"
GLIBC_X86 = "cp312-manylinux_2_36_x86_64"


@pytest.mark.parametrize(
    ("text", "python", "libc", "libc_version", "arch"),
    [
        (MUSL_ARM, (3, 12), "musllinux", (1, 2), Arch.AARCH64),
        ("cp311-manylinux_2_36_aarch64", (3, 11), "manylinux", (2, 36), Arch.AARCH64),
        (GLIBC_X86, (3, 12), "manylinux", (2, 36), Arch.X86_64),
        ("cp39-manylinux_2_17_armv7l", (3, 9), "manylinux", (2, 17), Arch.ARMV7L),
        ("cp313-manylinux_2_5_x86_64", (3, 13), "manylinux", (2, 5), Arch.X86_64),
        ("  cp312-musllinux_1_1_x86_64\n", (3, 12), "musllinux", (1, 1), Arch.X86_64),
    ],
)
def test_parse_good_ids(
    text: str,
    python: tuple[int, int],
    libc: str,
    libc_version: tuple[int, int],
    arch: Arch,
) -> None:
    target = Target.parse(text)

    assert (target.python, target.libc, target.libc_version, target.arch) == (
        python,
        libc,
        libc_version,
        arch,
    )
    assert target.id == text.strip()
    assert str(target) == text.strip()


def test_id_parts() -> None:
    target = Target.parse(MUSL_ARM)

    assert target.interpreter == "cp312"
    assert target.python_version == "3.12"
    assert target.platform_tag == "musllinux_1_2_aarch64"
    assert target.description == "musllinux aarch64"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "cp312",
        "cp312-foo",
        "py312-musllinux_1_2_aarch64",
        "cp212-musllinux_1_2_aarch64",
        "cp312_musllinux_1_2_aarch64",
        "cp312-musllinux_1_aarch64",
        "cp312-manylinux2014_aarch64",
        "cp312-linux_aarch64",
        "cp312-MUSLLINUX_1_2_aarch64",
    ],
)
def test_parse_malformed_ids(text: str) -> None:
    with pytest.raises(TargetError) as caught:
        Target.parse(text)

    assert caught.value.message == f"malformed target id {text!r}"
    assert caught.value.hint == (
        "a target id reads cpXY-<manylinux_2_N|musllinux_1_N>_<arch>, "
        "e.g. cp312-musllinux_1_2_aarch64 or cp311-manylinux_2_36_x86_64"
    )


@pytest.mark.parametrize(
    ("text", "given", "wheel_name"),
    [
        ("cp312-musllinux_1_2_arm64", "arm64", "aarch64"),
        ("cp312-manylinux_2_36_amd64", "amd64", "x86_64"),
        ("cp312-manylinux_2_36_arm", "arm", "armv7l"),
    ],
)
def test_docker_arch_names_in_an_id_are_refused(text: str, given: str, wheel_name: str) -> None:
    with pytest.raises(TargetError) as caught:
        Target.parse(text)

    assert caught.value.message == f"target id {text!r} names the architecture as {given!r}"
    assert caught.value.hint == f"target ids use the wheel tag name: {wheel_name}"


def test_unknown_arch_in_an_id() -> None:
    with pytest.raises(TargetError) as caught:
        Target.parse("cp312-musllinux_1_2_sparc64")

    assert caught.value.message == "unknown architecture 'sparc64'"


@pytest.mark.parametrize("text", ["cp312-musllinux_2_2_aarch64", "cp312-musllinux_0_9_x86_64"])
def test_wrong_musllinux_versions(text: str) -> None:
    with pytest.raises(TargetError) as caught:
        Target.parse(text)

    assert caught.value.message == (
        f"target {text!r}: musllinux versions are 1.x (musl 1.2 is musllinux_1_2)"
    )
    assert caught.value.hint == "e.g. cp312-musllinux_1_2_aarch64"


@pytest.mark.parametrize(
    ("text", "oldest", "arch"),
    [
        ("cp312-manylinux_1_36_aarch64", 17, "aarch64"),
        ("cp312-manylinux_3_1_x86_64", 5, "x86_64"),
        ("cp312-manylinux_2_16_aarch64", 17, "aarch64"),
        ("cp312-manylinux_2_12_armv7l", 17, "armv7l"),
        ("cp312-manylinux_2_4_x86_64", 5, "x86_64"),
    ],
)
def test_wrong_manylinux_versions(text: str, oldest: int, arch: str) -> None:
    with pytest.raises(TargetError) as caught:
        Target.parse(text)

    assert caught.value.message == (
        f"target {text!r}: manylinux versions are glibc 2.x, at least 2_{oldest} on {arch}"
    )
    assert caught.value.hint == (
        "e.g. cp312-manylinux_2_36_aarch64 for Debian bookworm (glibc 2.36)"
    )


def test_target_error_is_bad_input() -> None:
    with pytest.raises(TargetError) as caught:
        Target.parse("nope")

    assert int(caught.value.exit_code) == 2


def test_musllinux_platforms() -> None:
    assert Target.parse(MUSL_ARM).platforms == (
        "musllinux_1_2_aarch64",
        "musllinux_1_1_aarch64",
        "musllinux_1_0_aarch64",
    )


def test_manylinux_platforms_put_legacy_names_after_their_pep600_twins() -> None:
    platforms = Target.parse(GLIBC_X86).platforms

    assert platforms[0] == "manylinux_2_36_x86_64"
    assert platforms[-1] == "manylinux1_x86_64"
    assert len(platforms) == len(set(platforms)) == 32 + 3
    for pep600, legacy in [
        ("manylinux_2_17_x86_64", "manylinux2014_x86_64"),
        ("manylinux_2_12_x86_64", "manylinux2010_x86_64"),
        ("manylinux_2_5_x86_64", "manylinux1_x86_64"),
    ]:
        assert platforms.index(legacy) == platforms.index(pep600) + 1
    assert platforms.index("manylinux_2_18_x86_64") < platforms.index("manylinux_2_17_x86_64")


def test_aarch64_manylinux_stops_at_manylinux2014() -> None:
    platforms = Target.parse("cp312-manylinux_2_36_aarch64").platforms

    assert platforms[-2:] == ("manylinux_2_17_aarch64", "manylinux2014_aarch64")
    assert not any("2010" in p or "manylinux1" in p for p in platforms)


def test_tags_in_pips_order() -> None:
    tags = [str(t) for t in Target.parse(MUSL_ARM).tags]

    assert tags[:4] == [
        "cp312-cp312-musllinux_1_2_aarch64",
        "cp312-cp312-musllinux_1_1_aarch64",
        "cp312-cp312-musllinux_1_0_aarch64",
        "cp312-abi3-musllinux_1_2_aarch64",
    ]
    assert len(tags) == len(set(tags))
    order = [
        "cp312-cp312-musllinux_1_1_aarch64",
        "cp312-abi3-musllinux_1_2_aarch64",
        "cp311-abi3-musllinux_1_2_aarch64",
        "cp32-abi3-musllinux_1_0_aarch64",
        "py3-none-musllinux_1_2_aarch64",
        "cp312-none-any",
        "py3-none-any",
    ]
    assert [tags.index(t) for t in order] == sorted(tags.index(t) for t in order)


def test_tags_are_the_targets_and_never_the_hosts() -> None:
    target = Target.parse(MUSL_ARM)
    tags = set(target.tags)

    assert Tag("cp38", "abi3", "musllinux_1_2_aarch64") in tags
    assert Tag("py3", "none", "any") in tags
    assert Tag("cp313", "cp313", "musllinux_1_2_aarch64") not in tags
    assert Tag("cp312", "cp312", "manylinux_2_17_aarch64") not in tags
    assert {t.platform for t in tags} == {*target.platforms, "any"}


def test_no_tag_of_the_hosts_platform_leaks_in() -> None:
    # a target of the other architecture than this machine's, whatever this machine is
    other = "x86_64" if platform.machine() in ("aarch64", "arm64") else "aarch64"
    target = Target.parse(f"cp312-musllinux_1_2_{other}")
    host_platforms = {t.platform for t in sys_tags()} - {"any"}

    assert host_platforms
    assert not {t.platform for t in target.tags} & host_platforms


def test_tag_rank_follows_tags() -> None:
    target = Target.parse(MUSL_ARM)

    rank = target.tag_rank
    assert rank[Tag("cp312", "cp312", "musllinux_1_2_aarch64")] == 0
    assert (
        rank[Tag("cp312", "cp312", "musllinux_1_1_aarch64")]
        < rank[Tag("cp312", "abi3", "musllinux_1_2_aarch64")]
        < rank[Tag("py3", "none", "any")]
    )
    assert len(rank) == len(target.tags)


def test_marker_environment() -> None:
    env = Target.parse(MUSL_ARM).marker_environment

    assert env == {
        "implementation_name": "cpython",
        "implementation_version": "3.12.0",
        "os_name": "posix",
        "platform_machine": "aarch64",
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_system": "Linux",
        "platform_version": "",
        "python_full_version": "3.12.0",
        "python_version": "3.12",
        "sys_platform": "linux",
    }


@pytest.mark.parametrize(
    ("marker", "arm", "x86"),
    [
        ('platform_machine == "aarch64"', True, False),
        ('platform_machine == "x86_64"', False, True),
        ('python_version >= "3.12"', True, False),
        ('sys_platform == "linux" and os_name == "posix"', True, True),
        ('sys_platform == "win32"', False, False),
        ('platform_python_implementation == "CPython"', True, True),
    ],
)
def test_markers_evaluate_for_the_target(marker: str, arm: bool, x86: bool) -> None:
    arm_target = Target.parse(MUSL_ARM)
    x86_target = Target.parse("cp311-manylinux_2_36_x86_64")

    assert Marker(marker).evaluate(arm_target.marker_environment) is arm
    assert Marker(marker).evaluate(x86_target.marker_environment) is x86


@pytest.mark.parametrize(
    ("text", "arch"),
    [
        ("aarch64", Arch.AARCH64),
        ("arm64", Arch.AARCH64),
        ("linux/arm64", Arch.AARCH64),
        (" ARM64 ", Arch.AARCH64),
        ("x86_64", Arch.X86_64),
        ("amd64", Arch.X86_64),
        ("linux/amd64", Arch.X86_64),
        ("armv7l", Arch.ARMV7L),
        ("arm", Arch.ARMV7L),
        ("linux/arm/v7", Arch.ARMV7L),
        ("armv7", Arch.ARMV7L),
        ("ARMHF", Arch.ARMV7L),
    ],
)
def test_arch_parse_aliases(text: str, arch: Arch) -> None:
    assert Arch.parse(text) is arch


def test_arch_parse_unknown() -> None:
    with pytest.raises(TargetError) as caught:
        Arch.parse("mips")

    assert caught.value.message == "unknown architecture 'mips'"
    assert caught.value.hint == "use one of: arm64 (aarch64), amd64 (x86_64), arm (armv7l)"


@pytest.mark.parametrize(
    ("arch", "platform", "short"),
    [
        (Arch.AARCH64, "linux/arm64", "arm64"),
        (Arch.X86_64, "linux/amd64", "amd64"),
        (Arch.ARMV7L, "linux/arm/v7", "arm"),
    ],
)
def test_arch_docker_names(arch: Arch, platform: str, short: str) -> None:
    assert arch.docker_platform == platform
    assert arch.docker_arch == short


@pytest.mark.parametrize(
    ("text", "image"),
    [
        (MUSL_ARM, "python:3.12-alpine"),
        ("cp311-musllinux_1_1_x86_64", "python:3.11-alpine"),
        (GLIBC_X86, "python:3.12-slim"),
        ("cp311-manylinux_2_36_aarch64", "python:3.11-slim"),
    ],
)
def test_default_base_image(text: str, image: str) -> None:
    assert Target.parse(text).default_base_image == image


def test_targets_are_hashable_equal_and_ordered() -> None:
    ids = [GLIBC_X86, MUSL_ARM, "cp312-musllinux_1_2_x86_64", "cp311-manylinux_2_36_aarch64"]
    targets = [Target.parse(i) for i in ids]

    assert Target.parse(MUSL_ARM) == targets[1]
    assert len({*targets, Target.parse(MUSL_ARM)}) == 4
    assert [t.id for t in sorted(targets)] == [
        "cp311-manylinux_2_36_aarch64",
        GLIBC_X86,
        MUSL_ARM,
        "cp312-musllinux_1_2_x86_64",
    ]


def test_armv7l_targets_take_plain_linux_wheels_last_as_pip_on_a_pi_does() -> None:
    # piwheels publishes linux_armv7l wheels; pip on Raspberry Pi OS ranks them after every
    # manylinux tag (`pip debug --verbose` in the armhf image lists the same 564 tags).
    target = Target.parse("cp311-manylinux_2_36_armv7l")
    assert target.platforms[:2] == ("manylinux_2_36_armv7l", "manylinux_2_35_armv7l")
    assert target.platforms[-3:] == (
        "manylinux_2_17_armv7l",
        "manylinux2014_armv7l",
        "linux_armv7l",
    )
    assert len(target.tags) == 564
    assert "linux_aarch64" not in Target.parse("cp311-manylinux_2_36_aarch64").platforms
