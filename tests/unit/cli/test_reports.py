"""JSON reports and Markdown summaries of build and verify; $GITHUB_STEP_SUMMARY."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from packaging.utils import canonicalize_name

from orchestrator.cli.reports import (
    build_report,
    build_summary_markdown,
    verify_report,
    verify_summary_markdown,
    write_step_summary,
)
from orchestrator.model import Artifact, BuildFailure, Origin, TargetBuild
from orchestrator.targets import Target
from orchestrator.wheelhouse.collect import WheelhouseResult
from orchestrator.wheelhouse.report import PackageVerify, VerifyReport

ARM = Target.parse("cp311-manylinux_2_36_aarch64")
X86 = Target.parse("cp311-manylinux_2_36_x86_64")


def art(name: str, version: str, origin: Origin, *, cached: bool = False) -> Artifact:
    return Artifact(
        name=canonicalize_name(name),
        version=version,
        path=Path(f"/cache/{name}-{version}-py3-none-any.whl"),
        sha256="0" * 64,
        origin=origin,
        build_seconds=63.3 if origin == "built" and not cached else None,
        sdist_sha256="ab" * 32 if origin == "built" else None,
        base_image_digest="sha256:cd" if origin == "built" else None,
        cached=cached,
        build_mode="cross" if origin == "built" else None,
        check_seconds=4.5 if origin == "built" and not cached else None,
    )


FAILURE = BuildFailure(
    name=canonicalize_name("psycopg2"),
    version="2.9.10",
    reason="pg_config not found | install libpq-dev",
    log_tail="running build_ext\nError: pg_config executable not found.",
    log_path=Path("/cache/logs/psycopg2.log"),
    hint="psycopg2: the build runs `pg_config`, which is not installed; libpq-dev (apt) "
    "provides it\npackages:\n  psycopg2:\n    apt: [libpq-dev]",
)

ARM_BUILD = TargetBuild(
    target=ARM,
    artifacts=(
        art("six", "1.16.0", "pypi"),
        art("cffi", "1.17.1", "built"),
        art("crcmod", "1.7", "built", cached=True),
    ),
    failures=(FAILURE,),
    build_seconds=70.25,
)
X86_BUILD = TargetBuild(target=X86, artifacts=(art("six", "1.16.0", "pypi"),))


def test_build_report_is_the_documented_contract() -> None:
    wheelhouse = WheelhouseResult(
        target=ARM,
        path=Path("wheelhouse") / ARM.id,
        real_path=Path("wheelhouse") / f".{ARM.id}-x",
        wheels=3,
        size_bytes=10,
        by_origin={"pypi": 1, "built": 2},
    )

    report = build_report([ARM_BUILD, X86_BUILD], wheelhouses={ARM.id: wheelhouse})

    assert report == {
        "format": 1,
        "ok": False,
        "targets": [
            {
                "id": "cp311-manylinux_2_36_aarch64",
                "wheels": 3,
                "built": [
                    {
                        "name": "cffi",
                        "version": "1.17.1",
                        "file": "cffi-1.17.1-py3-none-any.whl",
                        "seconds": 63.3,
                        "sdist_sha256": "ab" * 32,
                        "base_image_digest": "sha256:cd",
                        "build_mode": "cross",
                        "fallback_reason": None,
                        "check_seconds": 4.5,
                    }
                ],
                "downloaded": 1,
                "cached": 1,
                "failures": [
                    {
                        "name": "psycopg2",
                        "version": "2.9.10",
                        "reason": "pg_config not found | install libpq-dev",
                        "log": "/cache/logs/psycopg2.log",
                        "log_tail": "running build_ext\nError: pg_config executable not found.",
                        "hint": FAILURE.hint,
                    }
                ],
                "seconds": 70.25,
                "wheelhouse": "wheelhouse/cp311-manylinux_2_36_aarch64",
            },
            {
                "id": "cp311-manylinux_2_36_x86_64",
                "wheels": 1,
                "built": [],
                "downloaded": 1,
                "cached": 0,
                "failures": [],
                "seconds": 0.0,
                "wheelhouse": None,
            },
        ],
    }


def test_build_report_ok_without_failures() -> None:
    assert build_report([X86_BUILD])["ok"] is True


def test_build_summary_counts_what_was_built_and_what_failed() -> None:
    text = build_summary_markdown([ARM_BUILD, X86_BUILD])

    assert text.startswith("## wheelhouse build\n")
    assert "| `cp311-manylinux_2_36_aarch64` | 3 | 1 | 1 | 1 | 1 | 70.2 |" in text
    assert "| `cp311-manylinux_2_36_x86_64` | 1 | 1 | 0 | 0 | 0 | 0.0 |" in text
    built = "- built **cffi** 1.17.1 (cross-compiled) in 63.3 s: `cffi-1.17.1-py3-none-any.whl`"
    assert built in text
    assert "- :x: **psycopg2** 2.9.10 failed: pg_config not found \\| install libpq-dev" in text
    assert "  (full log: `/cache/logs/psycopg2.log`)" in text
    assert "  Error: pg_config executable not found." in text
    assert "### `cp311-manylinux_2_36_x86_64`" not in text


def test_build_summary_shows_the_hint_and_the_snippet_to_copy() -> None:
    text = build_summary_markdown([ARM_BUILD])

    assert (
        "  - likely fix: psycopg2: the build runs `pg_config`, which is not installed; "
        "libpq-dev (apt) provides it\n"
        "\n"
        "    ```yaml\n"
        "    packages:\n"
        "      psycopg2:\n"
        "        apt: [libpq-dev]\n"
        "    ```\n"
    ) in text
    assert text.index("likely fix") < text.index("(full log:")


def test_a_hint_without_a_snippet_is_one_line() -> None:
    failure = BuildFailure(
        name=canonicalize_name("demo"), version="1", reason="failed", hint="demo: no idea"
    )
    text = build_summary_markdown([TargetBuild(target=X86, artifacts=(), failures=(failure,))])
    assert "  - likely fix: demo: no idea\n" in text
    assert "```yaml" not in text


# --- verify --------------------------------------------------------------------------------------

LIBPQ_HINT = "the runtime image lacks libpq.so.5: install it"
OK_REPORT = VerifyReport(
    target=X86,
    ok=True,
    packages=(PackageVerify(name="six", version="1.16.0", installed=True, imports={"six": "ok"}),),
    install_log_tail="Successfully installed six-1.16.0",
    image="python:3.11-slim",
    install_ok=True,
    seconds=9.5,
)
BAD_REPORT = VerifyReport(
    target=ARM,
    ok=False,
    packages=(
        PackageVerify(
            name="psycopg2",
            version="2.9.10",
            installed=True,
            imports={"psycopg2": "ImportError: libpq.so.5: cannot open shared object file"},
            hints=(LIBPQ_HINT,),
        ),
        PackageVerify(
            name="six",
            version=None,
            installed=False,
            error="ERROR: No matching distribution found for six",
            hints=("a wheel for this target is missing from the wheelhouse",),
        ),
    ),
    install_log_tail="ERROR: No matching distribution found for six",
    image="wheelhouse-test/python:3.11-bookworm-arm64",
    install_ok=False,
    seconds=61.0,
)


def test_verify_report_is_the_documented_contract() -> None:
    report = verify_report([OK_REPORT, BAD_REPORT])

    assert report["format"] == 1
    assert report["ok"] is False
    assert report["targets"][0] == {
        "id": "cp311-manylinux_2_36_x86_64",
        "image": "python:3.11-slim",
        "ok": True,
        "install_ok": True,
        "seconds": 9.5,
        "error": None,
        "hint": None,
        "install_log_tail": "Successfully installed six-1.16.0",
        "packages": [
            {
                "name": "six",
                "version": "1.16.0",
                "installed": True,
                "ok": True,
                "error": None,
                "imports": {"six": "ok"},
                "test": None,
                "hints": [],
            }
        ],
    }
    assert report["targets"][1]["packages"][1] == {
        "name": "six",
        "version": None,
        "installed": False,
        "ok": False,
        "error": "ERROR: No matching distribution found for six",
        "imports": {},
        "test": None,
        "hints": ["a wheel for this target is missing from the wheelhouse"],
    }


def test_verify_report_gives_a_packages_test_command_its_exit_code_and_output() -> None:
    failing = PackageVerify(
        name="crcmod",
        version="1.7",
        installed=True,
        imports={"crcmod": "ok"},
        test="python -c 'import crcmod; raise SystemExit(3)'",
        test_returncode=3,
        test_output="exit 3",
    )
    passing = dataclasses.replace(failing, test_returncode=0, test_output="")
    report = dataclasses.replace(OK_REPORT, packages=(failing, passing))

    tests = [p["test"] for p in verify_report([report])["targets"][0]["packages"]]

    assert tests == [
        {"command": failing.test, "returncode": 3, "ok": False, "output": "exit 3"},
        {"command": failing.test, "returncode": 0, "ok": True, "output": ""},
    ]


def test_verify_summary_lists_failures_with_their_fixes() -> None:
    text = verify_summary_markdown([OK_REPORT, BAD_REPORT])

    assert (
        "| `cp311-manylinux_2_36_x86_64` | `python:3.11-slim` | :white_check_mark: ok | 1 | 0 "
        "| 9.5 |"
    ) in text
    assert "| :x: failed | 2 | 2 | 61.0 |" in text
    assert (
        "- **psycopg2**: `import psycopg2` failed: "
        "ImportError: libpq.so.5: cannot open shared object file"
    ) in text
    assert f"  - fix: {LIBPQ_HINT}" in text
    assert "- **six** not installed: ERROR: No matching distribution found for six" in text
    assert "Install log (tail):" in text
    assert "### `cp311-manylinux_2_36_x86_64`" not in text


def test_verify_summary_shows_a_global_error() -> None:
    report = VerifyReport(
        target=ARM,
        ok=False,
        packages=(),
        install_log_tail="",
        error="verify timed out (the container was killed)",
        hint="raise the verify timeout",
    )

    text = verify_summary_markdown([report])

    assert "- verify timed out (the container was killed) — fix: raise the verify timeout" in text


# --- $GITHUB_STEP_SUMMARY ------------------------------------------------------------------------


def test_step_summary_is_appended_to_when_set(tmp_path: Path) -> None:
    summary = tmp_path / "step_summary.md"
    summary.write_text("# earlier step\n")

    written = write_step_summary("## wheelhouse build", {"GITHUB_STEP_SUMMARY": str(summary)})
    write_step_summary("## wheelhouse verify\n", {"GITHUB_STEP_SUMMARY": str(summary)})

    assert written == summary
    assert summary.read_text() == "# earlier step\n## wheelhouse build\n## wheelhouse verify\n"


def test_step_summary_is_skipped_outside_github(tmp_path: Path) -> None:
    assert write_step_summary("x", {}) is None
    assert write_step_summary("x", {"GITHUB_STEP_SUMMARY": ""}) is None


def test_a_qemu_build_after_a_failed_cross_build_says_why() -> None:
    fallback = dataclasses.replace(
        art("crcmod", "1.7", "built"),
        build_mode="emulate",
        fallback_reason="the cross build failed (exit status 1)",
        check_seconds=None,
    )
    build = TargetBuild(target=ARM, artifacts=(fallback,))
    (built,) = build_report([build])["targets"][0]["built"]
    assert (built["build_mode"], built["fallback_reason"]) == (
        "emulate",
        "the cross build failed (exit status 1)",
    )
    text = build_summary_markdown([build])
    assert "- built **crcmod** 1.7 (QEMU) in 63.3 s" in text
    assert "  - under QEMU because the cross build failed: the cross build failed" in text
