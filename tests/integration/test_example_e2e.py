"""The shipped example end to end: plan -> build (linux/arm64) -> collect -> verify.

``example_arm64_build`` (conftest.py) runs ``run_build`` on
examples/pi-backend/wheelhouse.local.yaml once per session with ``verify=True``; these
tests check what it published against the plan, byte by byte, and that the clean arm64
container installed every package offline and imported it (RPi.GPIO: installed, import
skipped by ``verify_import: false``). Then the real ``wheelhouse build --json`` runs once
on the same cache and must build nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from packaging.utils import parse_wheel_filename

from orchestrator.build.engine import DockerEngine
from orchestrator.model import TargetPlan
from orchestrator.pipeline import BuildRun
from orchestrator.wheelhouse.report import VerifyReport

if TYPE_CHECKING:  # pytest hands the fixture in; conftest is not importable as such
    from tests.integration.conftest import ExampleBuild

pytestmark = [pytest.mark.engine, pytest.mark.network]

#: The example's sdist-only packages on cp311 aarch64 (see `wheelhouse plan`).
BUILT = {"crcmod", "docopt", "netifaces", "psycopg2", "rpi-gpio"}
#: Built wheels that are pure Python (no ELF object to check).
PURE = {"docopt"}
#: Installed but not imported: RPi.GPIO refuses to import anywhere but on a Pi.
IMPORT_SKIPPED = {"rpi-gpio"}
EM_AARCH64 = 0xB7
WHEELHOUSE_CLI = Path(sys.executable).with_name("wheelhouse")


# --- helpers -----------------------------------------------------------------------------------


def sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def the_plan(example: ExampleBuild) -> TargetPlan:
    (plan,) = example.run.plan.targets
    return plan


def manifest(wheelhouse: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((wheelhouse / "manifest.json").read_text("utf-8"))
    return data


def wheels_by_name(wheelhouse: Path) -> dict[str, dict[str, Any]]:
    return {w["name"]: w for w in manifest(wheelhouse)["wheels"]}


def requirement_hashes(text: str) -> dict[tuple[str, str], set[str]]:
    """``name==version --hash=sha256:...`` lines -> {(name, version): {sha256}}."""
    pins: dict[tuple[str, str], set[str]] = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        pin, *flags = line.split()
        name, version = pin.split("==")
        pins[(name, version)] = {f.removeprefix("--hash=sha256:") for f in flags}
    return pins


def elf_machines(wheel: Path) -> dict[str, int]:
    """e_machine of every ELF object in ``wheel``, by member name."""
    found: dict[str, int] = {}
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.namelist():
            head = archive.open(member).read(20)
            if head[:4] == b"\x7fELF":
                little = head[5] == 1  # EI_DATA: 1 little-endian, 2 big-endian
                found[member] = int.from_bytes(head[18:20], "little" if little else "big")
    return found


def problem_report(run: BuildRun) -> str:
    """Everything a failed example run says about why: failed builds, then verify."""
    lines = [str(run.problem()), *(f"unpublished {t}: {w}" for t, w in run.unpublished.items())]
    for build in run.builds:
        for failure in build.failures:
            lines += [f"{failure.name}: {failure.reason} ({failure.log_path})", failure.log_tail]
    for report in run.verified:
        lines += [f"verify {report.target.id}: {report.error}", report.install_log_tail]
        lines += [f"  {p.name}: {p.error or p.failed_imports}" for p in report.failed]
    return "\n".join(lines)


def the_report(example: ExampleBuild) -> VerifyReport:
    (report,) = example.run.verified
    return report


# --- the library run ---------------------------------------------------------------------------


def test_the_example_builds_collects_and_verifies_without_a_problem(
    example_arm64_build: ExampleBuild,
) -> None:
    run = example_arm64_build.run
    assert run.problem() is None, problem_report(run)
    assert run.unpublished == {}
    assert list(run.wheelhouses) == [example_arm64_build.target_id]
    assert example_arm64_build.target_id == "cp311-manylinux_2_36_aarch64"
    assert {p.name for p in the_plan(example_arm64_build).by_action("build")} == BUILT
    assert example_arm64_build.wheelhouse.is_symlink()


def test_every_planned_package_is_in_the_wheelhouse(example_arm64_build: ExampleBuild) -> None:
    plan = the_plan(example_arm64_build)
    wheelhouse = example_arm64_build.wheelhouse
    wheels = wheels_by_name(wheelhouse)

    assert {n: w["version"] for n, w in wheels.items()} == {
        p.name: p.version for p in plan.packages
    }
    assert {n for n, w in wheels.items() if w["origin"] == "built"} == BUILT
    for package in plan.by_action("download"):
        assert wheels[package.name]["file"] == package.file
        assert wheels[package.name]["sha256"] == package.sha256
    assert manifest(wheelhouse)["missing"] == []
    assert example_arm64_build.run.wheelhouses[plan.target.id].wheels == len(plan.packages)


def test_manifest_sha256s_match_the_files(example_arm64_build: ExampleBuild) -> None:
    wheelhouse = example_arm64_build.wheelhouse
    listed = manifest(wheelhouse)["wheels"]

    assert {w["file"] for w in listed} == {p.name for p in wheelhouse.glob("*.whl")}
    for wheel in listed:
        assert sha256(wheelhouse / wheel["file"]) == wheel["sha256"], wheel["file"]


def test_every_file_is_readable_by_everyone(example_arm64_build: ExampleBuild) -> None:
    """Whoever serves or installs the wheelhouse (a web server, a deploy user) reads it."""
    root = example_arm64_build.wheelhouse.resolve()
    unreadable = [
        str(p.relative_to(root)) for p in root.rglob("*") if p.stat().st_mode & 0o444 != 0o444
    ]
    assert unreadable == []


def test_requirements_txt_pins_every_wheel_with_its_hash(
    example_arm64_build: ExampleBuild,
) -> None:
    wheelhouse = example_arm64_build.wheelhouse
    pins = requirement_hashes((wheelhouse / "requirements.txt").read_text("utf-8"))

    assert pins == {
        (w["name"], w["version"]): {w["sha256"]} for w in manifest(wheelhouse)["wheels"]
    }


def test_the_pep503_index_lists_every_project(example_arm64_build: ExampleBuild) -> None:
    simple = example_arm64_build.wheelhouse / "simple"
    root = (simple / "index.html").read_text("utf-8")

    for name, wheel in wheels_by_name(example_arm64_build.wheelhouse).items():
        assert f'href="{name}/"' in root, name
        page = (simple / name / "index.html").read_text("utf-8")
        assert f'href="../../{wheel["file"]}#sha256={wheel["sha256"]}"' in page, name
        target = (simple / name / f"../../{wheel['file']}").resolve()
        assert target.is_file(), target


def test_built_wheels_are_aarch64_and_made_in_the_target_image(
    example_arm64_build: ExampleBuild,
) -> None:
    wheelhouse = example_arm64_build.wheelhouse
    (tcfg,) = example_arm64_build.session.targets
    image_id = DockerEngine().image_digest(tcfg.base_image, "linux/arm64")

    for name in BUILT:
        wheel = wheels_by_name(wheelhouse)[name]
        machines = elf_machines(wheelhouse / wheel["file"])
        tags = {str(t) for t in parse_wheel_filename(wheel["file"])[3]}
        assert wheel["base_image_digest"] == image_id, name
        if name in PURE:
            assert machines == {}, name
            assert tags == {"py3-none-any"} or all(t.endswith("-none-any") for t in tags)
        else:
            assert machines, f"{name}: no ELF object in {wheel['file']}"
            assert set(machines.values()) == {EM_AARCH64}, (name, machines)
            assert all(re.search(r"manylinux(2014|_2_\d+)_aarch64$", t) for t in tags), tags


def test_verify_installed_everything_offline_and_imported_all_but_rpi_gpio(
    example_arm64_build: ExampleBuild,
) -> None:
    report = the_report(example_arm64_build)
    packages = {p.name: p for p in report.packages}

    assert report.ok, problem_report(example_arm64_build.run)
    assert report.install_ok
    assert report.image == "wheelhouse-test/python:3.11-bookworm-arm64"
    assert set(packages) == {p.name for p in the_plan(example_arm64_build).packages}
    for name, package in packages.items():
        assert package.installed, name
        if name in IMPORT_SKIPPED:
            assert package.import_skipped, name
        else:
            assert not package.import_skipped, name
            assert package.imports, f"{name}: no module was imported"
            assert set(package.imports.values()) == {"ok"}, (name, package.imports)


# --- the real CLI, once, on the same cache -----------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class CliRun:
    returncode: int
    report: dict[str, Any]
    stderr: str
    seconds: float
    output: Path


def cli_env() -> dict[str, str]:
    """This environment, minus what would redirect the run or write a CI summary."""
    drop = {"WHEELHOUSE_CACHE_DIR", "GITHUB_STEP_SUMMARY"}
    return {k: v for k, v in os.environ.items() if k not in drop}


@pytest.fixture(scope="module")
def cli_rerun(
    example_arm64_build: ExampleBuild, tmp_path_factory: pytest.TempPathFactory
) -> CliRun:
    """``wheelhouse build -c <copy> --json``: the example's config, pointed at the build's
    cache and a new output directory (the fixture's wheelhouse stays as it was)."""
    root = tmp_path_factory.mktemp("example-cli")
    example = example_arm64_build.session.config
    assert example.path is not None and example.requirements is not None
    config = yaml.safe_load(example.path.read_text("utf-8"))
    config |= {
        "requirements": str(example.requirements),
        "output": str(root / "wheelhouse"),
        "cache_dir": str(example_arm64_build.cache_dir),
    }
    copy = root / "wheelhouse.yaml"
    copy.write_text(yaml.safe_dump(config, sort_keys=False), "utf-8")
    start = time.monotonic()
    done = subprocess.run(
        [str(WHEELHOUSE_CLI), "build", "-c", str(copy), "--json"],
        capture_output=True,
        text=True,
        env=cli_env(),
        check=False,
        timeout=900,
    )
    took = time.monotonic() - start
    assert done.stdout.strip(), f"no JSON on stdout (exit {done.returncode}):\n{done.stderr}"
    return CliRun(
        returncode=done.returncode,
        report=json.loads(done.stdout),
        stderr=done.stderr,
        seconds=took,
        output=root / "wheelhouse",
    )


def test_the_cli_rerun_builds_nothing(cli_rerun: CliRun, example_arm64_build: ExampleBuild) -> None:
    assert cli_rerun.returncode == 0, cli_rerun.stderr
    report = cli_rerun.report
    (target,) = report["targets"]
    plan = the_plan(example_arm64_build)

    assert report["format"] == 1
    assert report["ok"] is True
    assert report["unpublished"] == {}
    assert target["id"] == example_arm64_build.target_id
    assert target["built"] == []
    assert target["failures"] == []
    assert target["cached"] == len(BUILT)
    assert target["downloaded"] == len(plan.by_action("download"))
    assert target["wheels"] == len(plan.packages)
    assert target["wheelhouse"] == str(cli_rerun.output / example_arm64_build.target_id)
    assert f"nothing to build: {len(BUILT)} wheel(s) from the build cache" in cli_rerun.stderr
    assert "docker buildx build:" not in cli_rerun.stderr
    # every build requirement's resolution is the one the library run recorded: no uv run
    assert re.search(r"build requirements: (\d+) of \1 resolution\(s\) recorded", cli_rerun.stderr)


def test_the_cli_rerun_publishes_the_same_wheels(
    cli_rerun: CliRun, example_arm64_build: ExampleBuild
) -> None:
    again = cli_rerun.output / example_arm64_build.target_id
    first = wheels_by_name(example_arm64_build.wheelhouse)

    assert {n: w["sha256"] for n, w in wheels_by_name(again).items()} == {
        n: w["sha256"] for n, w in first.items()
    }
    assert (again / "requirements.txt").read_text("utf-8") == (
        example_arm64_build.wheelhouse / "requirements.txt"
    ).read_text("utf-8")
