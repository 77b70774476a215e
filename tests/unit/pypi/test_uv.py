"""uv's binary and its ``--python-platform`` for a target (plan.resolve and build.requires)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from orchestrator.errors import ResolveError
from orchestrator.pypi import uv
from orchestrator.pypi.uv import (
    fallback_platforms,
    known_platforms,
    known_platforms_of,
    python_platform,
    uv_command,
)
from orchestrator.targets import Target

UV_HELP = """\
      --python-platform <PYTHON_PLATFORM>
          The platform for which requirements should be resolved [possible values: windows, linux,
          x86_64-unknown-linux-gnu, aarch64-unknown-linux-gnu, aarch64-unknown-linux-musl,
          x86_64-unknown-linux-musl, x86_64-manylinux2014, x86_64-manylinux_2_17,
          x86_64-manylinux_2_28, x86_64-manylinux_2_36, aarch64-manylinux_2_17,
          aarch64-manylinux_2_28, aarch64-manylinux_2_36]
      --universal
"""
KNOWN = known_platforms(UV_HELP)


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("cp311-manylinux_2_36_aarch64", "aarch64-manylinux_2_36"),
        ("cp312-manylinux_2_17_x86_64", "x86_64-manylinux_2_17"),
        # the highest minor this uv knows that the target's glibc can load
        ("cp312-manylinux_2_31_x86_64", "x86_64-manylinux_2_28"),
        ("cp312-manylinux_2_39_aarch64", "aarch64-manylinux_2_36"),
        ("cp312-manylinux_2_27_aarch64", "aarch64-manylinux_2_17"),
        # older than anything uv names by minor
        ("cp312-manylinux_2_5_x86_64", "x86_64-unknown-linux-gnu"),
        ("cp312-musllinux_1_2_aarch64", "aarch64-unknown-linux-musl"),
        ("cp312-musllinux_1_1_x86_64", "x86_64-unknown-linux-musl"),
    ],
)
def test_python_platform_is_computed_for_the_target(target: str, expected: str) -> None:
    assert python_platform(Target.parse(target), KNOWN) == expected


def test_a_platform_uv_does_not_know_is_a_resolve_error() -> None:
    with pytest.raises(ResolveError) as caught:
        python_platform(Target.parse("cp312-manylinux_2_36_armv7l"), KNOWN)
    assert caught.value.message == (
        "uv cannot resolve for cp312-manylinux_2_36_armv7l: it has no --python-platform "
        "armv7l-unknown-linux-gnu"
    )
    assert caught.value.hint is not None and "uv pip compile --help" in caught.value.hint


def test_known_platforms_whatever_the_wrapping() -> None:
    narrow = UV_HELP.replace(
        "[possible values: windows, linux,", "[possible\n  values: windows,\n linux,"
    )
    tail = "      --index-strategy <S>\n          How [possible values: first-index, unsafe]\n"
    known = known_platforms(narrow + tail)
    assert known == KNOWN
    assert "first-index" not in known
    assert "aarch64-manylinux_2_36" in known


@pytest.mark.parametrize(
    "text", ["", "error: unexpected argument '--help'", "[possible values: x]"]
)
def test_known_platforms_fall_back_when_help_cannot_be_read(text: str) -> None:
    known = known_platforms(text)
    assert known == fallback_platforms()
    assert "aarch64-manylinux_2_40" in known
    assert "aarch64-manylinux_2_29" not in known  # uv never knew 2_29 or 2_30
    assert "x86_64-unknown-linux-musl" in known


def test_known_platforms_of_runs_uvs_help() -> None:
    calls: list[list[str]] = []

    def run(args: Sequence[str]) -> tuple[int, str]:
        calls.append(list(args))
        return 0, UV_HELP

    assert known_platforms_of(("uv",), run) == KNOWN
    assert calls == [["uv", "pip", "compile", "--help"]]


def test_a_failing_help_falls_back() -> None:
    assert known_platforms_of(("uv",), lambda args: (2, UV_HELP)) == fallback_platforms()


def test_a_uv_that_cannot_run_has_no_help(tmp_path: Path) -> None:
    assert uv.run_help([str(tmp_path / "no-such-uv"), "--help"]) == (127, "")


def test_uv_command_prefers_the_binary_beside_the_interpreter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    python = tmp_path / "bin" / "python"
    python.parent.mkdir()
    monkeypatch.setattr(sys, "executable", str(python))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert uv_command() == (str(python), "-m", "uv")
    (tmp_path / "bin" / "uv").write_text("")
    assert uv_command() == (str(tmp_path / "bin" / "uv"),)


# --- targets uv names no platform for: a universal resolution read for the target ---------


def test_platform_args_name_the_platform_uv_knows() -> None:
    target = Target.parse("cp311-manylinux_2_36_aarch64")
    assert uv.platform_args(target, KNOWN) == ["--python-platform", "aarch64-manylinux_2_36"]


def test_platform_args_resolve_universally_where_uv_names_no_platform() -> None:
    assert uv.platform_args(Target.parse("cp311-manylinux_2_36_armv7l"), KNOWN) == ["--universal"]


UNIVERSAL = """\
async-timeout==5.0.1 ; python_full_version < '3.11.3' \\
    --hash=sha256:aaaa \\
    --hash=sha256:bbbb
numpy==2.2.6 ; python_full_version < '3.11' \\
    --hash=sha256:cccc
numpy==2.3.4 ; python_full_version >= '3.11'
pywin32==311 ; sys_platform == 'win32'
uvloop==0.21.0 ; platform_machine == 'armv7l' or platform_machine == 'aarch64'
redis==5.3.1
"""


def test_for_target_keeps_the_lines_whose_markers_hold_on_the_target() -> None:
    target = Target.parse("cp311-manylinux_2_36_armv7l").with_full_version("3.11.2")
    assert uv.for_target(UNIVERSAL, target) == (
        "async-timeout==5.0.1 --hash=sha256:aaaa --hash=sha256:bbbb\n"
        "numpy==2.3.4\n"
        "uvloop==0.21.0\n"
        "redis==5.3.1\n"
    )


def test_for_target_evaluates_the_full_python_version() -> None:
    target = Target.parse("cp311-manylinux_2_36_x86_64").with_full_version("3.11.9")
    assert uv.for_target(UNIVERSAL, target) == "numpy==2.3.4\nredis==5.3.1\n"
