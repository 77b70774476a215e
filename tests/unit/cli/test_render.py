"""The plan table: one block per target, aligned columns, a count line."""

from __future__ import annotations

from dataclasses import replace

from packaging.utils import canonicalize_name

from orchestrator.cli.render import plan_table
from orchestrator.model import Action, BuildModeName, PackagePlan, Plan, TargetPlan
from orchestrator.targets import Target

MUSL_ARM = Target.parse("cp312-musllinux_1_2_aarch64")
GLIBC_X86 = Target.parse("cp312-manylinux_2_36_x86_64")
GLIBC_ARM = Target.parse("cp312-manylinux_2_36_aarch64")


def package(
    name: str,
    action: Action,
    *,
    file: str | None = None,
    reason: str = "",
    system_packages: tuple[str, ...] = (),
    version: str = "1.0",
    mode: BuildModeName | None = None,
    fallback: bool = False,
    mode_reason: str | None = None,
) -> PackagePlan:
    return PackagePlan(
        name=canonicalize_name(name),
        version=version,
        action=action,
        file=file,
        reason=reason,
        system_packages=system_packages,
        build_mode=mode,
        qemu_fallback=fallback,
        build_mode_reason=mode_reason,
    )


CFFI = package(
    "cffi", "download", file="cffi-1.17.1-cp312-cp312-musllinux_1_1_aarch64.whl", version="1.17.1"
)
PSYCOPG2 = package(
    "psycopg2",
    "build",
    file="psycopg2-2.9.10.tar.gz",
    reason="no musllinux aarch64 wheel for cp312; sdist only",
    system_packages=("postgresql-dev", "gcc"),
    version="2.9.10",
    mode="emulate",
    mode_reason="no tested cross toolchain for Alpine (apk) targets",
)
DOCOPT = package(
    "docopt",
    "build",
    file="docopt-0.6.2.tar.gz",
    reason="no musllinux aarch64 wheel for cp312; sdist only",
    version="0.6.2",
    mode="emulate",
    mode_reason="--emulate",
)
MISSING = package("nope", "error", reason="nope is not on the package index (r.txt:3)")


def test_one_target_every_action() -> None:
    plan = Plan(targets=(TargetPlan(target=MUSL_ARM, packages=(CFFI, PSYCOPG2, MISSING)),))

    assert plan_table(plan, images={MUSL_ARM.id: "python:3.12-alpine"}) == "\n".join(
        [
            "cp312-musllinux_1_2_aarch64  (builds in python:3.12-alpine; Python 3.12.0 assumed)",
            "  PACKAGE   VERSION  ACTION  MODE     FILE / REASON",
            "  cffi      1.17.1   wheel   "
            + " " * 9
            + "cffi-1.17.1-cp312-cp312-musllinux_1_1_aarch64.whl",
            "  psycopg2  2.9.10   build   emulate  psycopg2-2.9.10.tar.gz",
            " " * 38 + "why: no musllinux aarch64 wheel for cp312; sdist only",
            " " * 38 + "mode: no tested cross toolchain for Alpine (apk) targets",
            "                                      system packages: postgresql-dev gcc",
            "  nope      1.0      ERROR            nope is not on the package index (r.txt:3)",
            "1 wheel, 1 build, 1 error",
        ]
    )


def test_count_line_uses_plurals() -> None:
    plan = Plan(
        targets=(
            TargetPlan(target=MUSL_ARM, packages=(PSYCOPG2, DOCOPT)),
            TargetPlan(target=GLIBC_X86, packages=()),
        )
    )

    blocks = plan_table(plan).split("\n\n")

    assert blocks[0].splitlines()[-1] == "0 wheels, 2 builds, 0 errors"
    assert blocks[1] == "\n".join(
        [
            "cp312-manylinux_2_36_x86_64  (Python 3.12.0 assumed)",
            "  PACKAGE  VERSION  ACTION  MODE  FILE / REASON",
            "0 wheels, 0 builds, 0 errors",
        ]
    )


def test_targets_in_plan_order_separated_by_a_blank_line_then_warnings() -> None:
    plan = Plan(
        targets=(
            TargetPlan(target=GLIBC_X86, packages=(CFFI,)),
            TargetPlan(target=MUSL_ARM, packages=(DOCOPT,)),
        ),
        warnings=("cp312-musllinux_1_2_aarch64: a: b", "another"),
    )

    text = plan_table(plan, images={MUSL_ARM.id: "python:3.12-alpine"})

    blocks = text.split("\n\n")
    assert [b.splitlines()[0] for b in blocks] == [
        "cp312-manylinux_2_36_x86_64  (Python 3.12.0 assumed)",
        "cp312-musllinux_1_2_aarch64  (builds in python:3.12-alpine; Python 3.12.0 assumed)",
    ]
    assert text.splitlines()[-3:] == [
        "0 wheels, 1 build, 0 errors",
        "warning: cp312-musllinux_1_2_aarch64: a: b",
        "warning: another",
    ]


def test_a_build_without_system_packages_has_no_such_row() -> None:
    plan = Plan(targets=(TargetPlan(target=MUSL_ARM, packages=(DOCOPT,)),))

    lines = plan_table(plan).splitlines()

    assert lines[2:5] == [
        "  docopt   0.6.2    build   emulate  docopt-0.6.2.tar.gz",
        " " * 37 + "why: no musllinux aarch64 wheel for cp312; sdist only",
        "                                     mode: --emulate",
    ]
    assert not any("system packages" in line for line in lines)


def test_the_default_modes_need_no_mode_row() -> None:
    cross = replace(DOCOPT, build_mode="cross", qemu_fallback=True, build_mode_reason=None)
    native = replace(
        CFFI,
        action="build",
        file="cffi-1.17.1.tar.gz",
        reason="forced to build from source (force_build)",
        build_mode="native",
    )
    plan = Plan(targets=(TargetPlan(target=GLIBC_ARM, packages=(cross, native)),))

    assert plan_table(plan).splitlines()[1:6] == [
        "  PACKAGE  VERSION  ACTION  MODE    FILE / REASON",
        "  docopt   0.6.2    build   cross   docopt-0.6.2.tar.gz",
        "                                    why: no musllinux aarch64 wheel for cp312; sdist only",
        "  cffi     1.17.1   build   native  cffi-1.17.1.tar.gz",
        "                                    why: forced to build from source (force_build)",
    ]


def test_a_forced_cross_says_who_forced_it() -> None:
    forced = replace(
        DOCOPT,
        build_mode="cross",
        qemu_fallback=False,
        build_mode_reason="--mode cross: no QEMU fallback",
    )
    plan = Plan(targets=(TargetPlan(target=GLIBC_ARM, packages=(forced,)),))

    assert plan_table(plan).splitlines()[2:5] == [
        "  docopt   0.6.2    build   cross  docopt-0.6.2.tar.gz",
        "                                   why: no musllinux aarch64 wheel for cp312; sdist only",
        "                                   mode: --mode cross: no QEMU fallback",
    ]


def test_a_yanked_download_says_so() -> None:
    yanked = package(
        "demo", "download", file="demo-1.0-py3-none-any.whl", reason="[yanked: CVE-0000-0001]"
    )
    plan = Plan(targets=(TargetPlan(target=MUSL_ARM, packages=(yanked,)),))

    assert plan_table(plan).splitlines()[2:4] == [
        "  demo     1.0      wheel         demo-1.0-py3-none-any.whl",
        "                                  note: [yanked: CVE-0000-0001]",
    ]


def test_columns_widen_for_long_names() -> None:
    long = package("a-very-long-package-name", "download", file="x.whl", version="2024.10.1")
    plan = Plan(targets=(TargetPlan(target=MUSL_ARM, packages=(long,)),))

    assert plan_table(plan).splitlines()[1:3] == [
        "  PACKAGE                   VERSION    ACTION  MODE  FILE / REASON",
        "  a-very-long-package-name  2024.10.1  wheel         x.whl",
    ]


def test_the_header_says_the_python_markers_are_evaluated_with() -> None:
    known = Target.parse("cp311-manylinux_2_36_aarch64").with_full_version("3.11.2")
    plan = Plan(targets=(TargetPlan(target=known, packages=()),))

    table = plan_table(plan, images={known.id: "debian:bookworm"})

    assert table.splitlines()[0] == (
        "cp311-manylinux_2_36_aarch64  (builds in debian:bookworm; Python 3.11.2)"
    )


def test_a_target_that_cannot_be_planned_says_why_beside_the_others() -> None:
    old = Target.parse("cp310-manylinux_2_36_x86_64")
    error = "uv.lock: requires-python >=3.11 excludes target cp310\n  hint: drop the target"
    plan = Plan(targets=(TargetPlan(target=old, packages=(), error=error),))
    assert plan_table(plan) == (
        "cp310-manylinux_2_36_x86_64\n"
        "  ERROR: this target cannot be planned\n"
        "  uv.lock: requires-python >=3.11 excludes target cp310\n"
        "  hint: drop the target"
    )
