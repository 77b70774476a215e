"""``wheelhouse plan`` against the real PyPI (``-m network``): facts of the real index.

Each test runs the real CLI in-process (``orchestrator.cli.app.main``) on a temporary
requirements file and wheelhouse.yaml, with the HTTP cache in a temporary directory.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from orchestrator.cli import app as cli
from orchestrator.pypi.uv import uv_command

pytestmark = pytest.mark.network

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples/pi-backend"
DEMO_LOCK = ROOT / "tests/data/uvlock/demo/uv.lock"
MUSL_ARM = "cp312-musllinux_1_2_aarch64"
GLIBC_ARM = "cp312-manylinux_2_36_aarch64"
MUSL_X86 = "cp312-musllinux_1_2_x86_64"
GLIBC_X86 = "cp312-manylinux_2_36_x86_64"
SHA256 = re.compile(r"^[0-9a-f]{64}$")


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One HTTP cache for the module: pages asked for twice are fetched once."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WHEELHOUSE_CACHE_DIR", str(cache_dir))
    monkeypatch.delenv("PIP_INDEX_URL", raising=False)
    monkeypatch.delenv("PIP_EXTRA_INDEX_URL", raising=False)
    monkeypatch.delenv("WHEELHOUSE_DEBUG", raising=False)
    monkeypatch.chdir(tmp_path)


@dataclass(frozen=True)
class Planned:
    code: int
    err: str
    targets: dict[str, dict[str, dict[str, Any]]]

    def package(self, target: str, name: str) -> dict[str, Any]:
        return self.targets[target][name]


def plan(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    *args: str,
) -> Planned:
    monkeypatch.setattr(sys, "argv", ["wheelhouse", "plan", "--json", *args])
    try:
        cli.main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    data = json.loads(out) if out else {"targets": []}
    targets = {t["id"]: {p["name"]: p for p in t["packages"]} for t in data["targets"]}
    return Planned(code, err, targets)


def plan_text(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    requirements: str,
    *targets: str,
    config: str = "",
) -> Planned:
    (tmp_path / "requirements.txt").write_text(requirements, encoding="utf-8")
    ids = ", ".join(targets)
    (tmp_path / "wheelhouse.yaml").write_text(
        f"requirements: requirements.txt\ntargets: [{ids}]\n{config}", encoding="utf-8"
    )
    return plan(monkeypatch, capsys, "--config", str(tmp_path / "wheelhouse.yaml"))


def test_cffi_has_a_musllinux_1_1_aarch64_wheel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    result = plan_text(tmp_path, monkeypatch, capsys, "cffi==1.17.1\n", MUSL_ARM)

    assert result.code == 0, result.err
    cffi = result.package(MUSL_ARM, "cffi")
    assert cffi["action"] == "download"
    assert cffi["file"] == "cffi-1.17.1-cp312-cp312-musllinux_1_1_aarch64.whl"
    assert SHA256.match(cffi["sha256"])
    assert cffi["url"].startswith("https://")
    assert cffi["url"].endswith("/" + cffi["file"])


def test_packages_without_an_aarch64_wheel_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    result = plan_text(
        tmp_path,
        monkeypatch,
        capsys,
        "uwsgi==2.0.28\nRPi.GPIO==0.7.1\ndocopt==0.6.2\n",
        MUSL_ARM,
    )

    assert result.code == 0, result.err
    files = {name: (p["action"], p["file"]) for name, p in result.targets[MUSL_ARM].items()}
    assert files == {
        "docopt": ("build", "docopt-0.6.2.tar.gz"),
        "rpi-gpio": ("build", "RPi.GPIO-0.7.1.tar.gz"),
        "uwsgi": ("build", "uwsgi-2.0.28.tar.gz"),
    }
    assert result.package(MUSL_ARM, "docopt")["reason"] == (
        "no musllinux aarch64 wheel for cp312; sdist only"
    )
    assert all(SHA256.match(p["sha256"]) for p in result.targets[MUSL_ARM].values())


def test_psutil_has_a_glibc_wheel_but_no_musl_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    result = plan_text(tmp_path, monkeypatch, capsys, "psutil==6.1.1\n", GLIBC_ARM, MUSL_ARM)

    assert result.code == 0, result.err
    glibc = result.package(GLIBC_ARM, "psutil")
    musl = result.package(MUSL_ARM, "psutil")
    assert glibc["action"] == "download"
    assert glibc["file"].startswith("psutil-6.1.1-")
    assert "aarch64" in glibc["file"]
    assert "manylinux" in glibc["file"]
    assert (musl["action"], musl["file"]) == ("build", "psutil-6.1.1.tar.gz")
    assert "wheels for other targets" in musl["reason"]


def test_markers_are_evaluated_for_the_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    result = plan_text(
        tmp_path,
        monkeypatch,
        capsys,
        'docopt==0.6.2\nRPi.GPIO==0.7.1; platform_machine=="aarch64"\n',
        MUSL_ARM,
        GLIBC_X86,
    )

    assert result.code == 0, result.err
    assert set(result.targets[MUSL_ARM]) == {"docopt", "rpi-gpio"}
    assert set(result.targets[GLIBC_X86]) == {"docopt"}


def test_a_hash_that_matches_no_file_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    result = plan_text(
        tmp_path,
        monkeypatch,
        capsys,
        "docopt==0.6.2 --hash=sha256:" + "0" * 64 + "\n",
        MUSL_ARM,
    )

    assert result.code == 3
    docopt = result.package(MUSL_ARM, "docopt")
    assert docopt["action"] == "error"
    assert docopt["reason"].startswith(
        "none of the 1 hash(es) given for docopt==0.6.2 matches a file of that release"
    )


def test_a_package_that_does_not_exist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    result = plan_text(
        tmp_path,
        monkeypatch,
        capsys,
        "docopt==0.6.2\nwheelhouse-no-such-project-7f3a9c==1.0\n",
        MUSL_ARM,
    )

    assert result.code == 3
    missing = result.package(MUSL_ARM, "wheelhouse-no-such-project-7f3a9c")
    assert missing["action"] == "error"
    assert missing["reason"] == (
        "wheelhouse-no-such-project-7f3a9c is not on the package index "
        f"({tmp_path / 'requirements.txt'}:2)"
    )
    assert result.package(MUSL_ARM, "docopt")["action"] == "build"
    assert "see ERROR rows" in result.err


def test_a_version_that_does_not_exist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    result = plan_text(tmp_path, monkeypatch, capsys, "docopt==0.6.99\n", MUSL_ARM)

    assert result.code == 3
    assert result.package(MUSL_ARM, "docopt")["reason"].startswith(
        "docopt has no release 0.6.99 on the index"
    )


def test_a_loose_requirement_is_resolved_by_uv_per_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    result = plan_text(
        tmp_path, monkeypatch, capsys, "python-jose[cryptography]\n", MUSL_ARM, GLIBC_X86
    )

    assert result.code == 0, result.err
    for target in (MUSL_ARM, GLIBC_X86):
        names = set(result.targets[target])
        assert {"python-jose", "cryptography", "cffi", "pycparser", "rsa"} <= names
        assert result.package(target, "cryptography")["action"] == "download"
    assert "aarch64" in result.package(MUSL_ARM, "cryptography")["file"]
    assert "musllinux" in result.package(MUSL_ARM, "cryptography")["file"]
    assert "x86_64" in result.package(GLIBC_X86, "cryptography")["file"]


def test_a_uv_lock_plans_only_what_the_target_installs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    result = plan(monkeypatch, capsys, "-r", str(DEMO_LOCK), "-t", MUSL_ARM, "-t", GLIBC_X86)

    assert result.code == 0, result.err
    arm, x86 = set(result.targets[MUSL_ARM]), set(result.targets[GLIBC_X86])
    assert arm - x86 == {"rpi-gpio"}
    assert "pywin32" not in arm | x86
    assert "demo" not in arm | x86
    assert {"cryptography", "cffi", "bcrypt", "psutil"} <= x86
    assert result.package(MUSL_ARM, "rpi-gpio")["action"] == "build"
    assert result.package(MUSL_ARM, "psutil")["action"] == "build"
    assert result.package(GLIBC_X86, "psutil")["action"] == "download"


def test_a_fresh_uv_lock_plans_only_what_the_target_installs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same, with a lock the uv of this venv writes now."""
    project = tmp_path / "app"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[project]\nname = "app"\nversion = "0.1.0"\nrequires-python = ">=3.11"\n'
        'dependencies = ["docopt==0.6.2", "pywin32 ; sys_platform == \'win32\'",\n'
        "  \"RPi.GPIO==0.7.1 ; platform_machine == 'aarch64'\"]\n",
        encoding="utf-8",
    )
    uv = uv_command()
    if not Path(uv[0]).exists() and shutil.which(uv[0]) is None:
        pytest.skip("uv is not installed")
    subprocess.run(
        [*uv, "lock", "--quiet", "--no-python-downloads"],
        cwd=project,
        check=True,
        capture_output=True,
    )

    result = plan(
        monkeypatch, capsys, "-r", str(project / "uv.lock"), "-t", MUSL_ARM, "-t", GLIBC_X86
    )

    assert result.code == 0, result.err
    assert set(result.targets[MUSL_ARM]) == {"docopt", "rpi-gpio"}
    assert set(result.targets[GLIBC_X86]) == {"docopt"}


def test_the_pi_backend_example(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    result = plan(
        monkeypatch,
        capsys,
        "--config",
        str(EXAMPLE / "wheelhouse.local.yaml"),
        "--target",
        "cp311-manylinux_2_36_aarch64",
    )

    assert result.code == 0, result.err
    packages = result.targets["cp311-manylinux_2_36_aarch64"]
    assert not [n for n, p in packages.items() if p["action"] == "error"]
    builds = {n for n, p in packages.items() if p["action"] == "build"}
    assert {"crcmod", "netifaces", "docopt", "psycopg2", "rpi-gpio"} <= builds
    assert packages["psycopg2"]["system_packages"] == ["libpq-dev"]
    assert packages["cffi"]["action"] == "download"
