"""``wheelhouse plan`` through ``orchestrator.cli.app.main``: the real CLI, session and planner,
with the index answered by ``httpx.MockTransport`` and uv by a fake runner."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from packaging.utils import canonicalize_name

from orchestrator import session
from orchestrator.cli import app as cli
from orchestrator.model import ReleaseFile
from orchestrator.plan.resolve import UvResolver
from orchestrator.pypi.index import SIMPLE_JSON, IndexClient, IndexConfig
from orchestrator.pypi.metadata import CoreMetadata, MetadataError
from orchestrator.targets import Arch

ROOT = Path(__file__).resolve().parents[3]
DEMO_LOCK = ROOT / "tests/data/uvlock/demo/uv.lock"
MUSL_ARM = "cp312-musllinux_1_2_aarch64"
GLIBC_ARM = "cp312-manylinux_2_36_aarch64"
GLIBC_X86 = "cp312-manylinux_2_36_x86_64"

PAGES: dict[str, list[str]] = {
    "cffi": [
        "cffi-1.17.1.tar.gz",
        "cffi-1.17.1-cp312-cp312-musllinux_1_1_aarch64.whl",
        "cffi-1.17.1-cp312-cp312-manylinux_2_17_aarch64.manylinux2014_aarch64.whl",
        "cffi-1.17.1-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    ],
    "pycparser": ["pycparser-2.22.tar.gz", "pycparser-2.22-py3-none-any.whl"],
    "docopt": ["docopt-0.6.2.tar.gz"],
    "psutil": [
        "psutil-6.1.1.tar.gz",
        "psutil-6.1.1-cp36-abi3-manylinux_2_17_aarch64.manylinux2014_aarch64.whl",
    ],
    "rpi-gpio": ["RPi.GPIO-0.7.1.tar.gz"],
    "psycopg2": ["psycopg2-2.9.10.tar.gz"],
    "orjson": ["orjson-3.10.15.tar.gz"],
}


def sha(filename: str) -> str:
    return hashlib.sha256(filename.encode()).hexdigest()


def url(filename: str) -> str:
    return f"https://files.example/{filename}"


class FakeIndex:
    """A PEP 691 index in memory; records the project names asked for."""

    def __init__(self, pages: Mapping[str, list[str]], status: int | None = None) -> None:
        self.pages = pages
        self.status = status
        self.asked: list[str] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        assert request.headers["accept"] == SIMPLE_JSON
        name = request.url.path.rstrip("/").rsplit("/", 1)[-1]
        self.asked.append(name)
        if self.status is not None:
            return httpx.Response(self.status)
        if name not in self.pages:
            return httpx.Response(404)
        files = [
            {"filename": f, "url": url(f), "hashes": {"sha256": sha(f)}} for f in self.pages[name]
        ]
        data = {"meta": {"api-version": "1.1"}, "name": name, "files": files}
        return httpx.Response(200, json=data, headers={"content-type": SIMPLE_JSON})


async def no_sleep(_seconds: float) -> None:
    return None


@pytest.fixture
def index(monkeypatch: pytest.MonkeyPatch) -> FakeIndex:
    fake = FakeIndex(PAGES)

    def make(config: IndexConfig, **options: Any) -> IndexClient:
        transport = httpx.MockTransport(fake.handler)
        return IndexClient(config, transport=transport, sleep=no_sleep, **options)

    monkeypatch.setattr(session, "IndexClient", make)
    return fake


@dataclass
class FakeUv:
    """Stands in for ``uv pip compile``: answers per ``--python-platform``."""

    outputs: Mapping[str, str]
    returncode: int = 0
    stderr: str = ""

    def __post_init__(self) -> None:
        self.commands: list[list[str]] = []

    def __call__(self, cmd: Sequence[str]) -> subprocess.CompletedProcess[str]:
        if "--help" in cmd:  # which platforms uv knows: no help, so the built-in list
            return subprocess.CompletedProcess(list(cmd), 2, "", "")
        self.commands.append(list(cmd))
        platform = cmd[cmd.index("--python-platform") + 1]
        return subprocess.CompletedProcess(
            list(cmd), self.returncode, self.outputs.get(platform, ""), self.stderr
        )

    def option(self, name: str) -> list[str]:
        return [cmd[cmd.index(name) + 1] for cmd in self.commands]


def fake_uv(monkeypatch: pytest.MonkeyPatch, uv: FakeUv) -> FakeUv:
    def make(**options: Any) -> UvResolver:
        return UvResolver(run=uv, **options)

    monkeypatch.setattr(session, "UvResolver", make)
    return uv


class FakeMetadata:
    """Stands in for the metadata client: each file's Requires-Dist from ``REQUIRES`` (by
    file name; none when absent)."""

    requires: ClassVar[dict[str, list[str]]] = {}

    def __init__(self, **_options: Any) -> None:
        pass

    def get_many_sync(
        self, files: Sequence[ReleaseFile]
    ) -> dict[str, CoreMetadata | MetadataError]:
        return {
            f.url: CoreMetadata(
                name=f.filename.split("-")[0],
                version=f.filename.split("-")[1].removesuffix(".tar.gz"),
                requires_dist=tuple(self.requires.get(f.filename, ())),
            )
            for f in files
        }


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No real uv, a cache of our own, no index settings from the environment, an amd64
    machine (the plan's build platform), file metadata from ``FakeMetadata``."""
    fake_uv(monkeypatch, FakeUv({}))
    monkeypatch.setattr(session, "MetadataClient", FakeMetadata)
    monkeypatch.setattr(FakeMetadata, "requires", {})
    monkeypatch.setattr(cli, "host_arch", lambda: Arch.X86_64)
    monkeypatch.setenv("WHEELHOUSE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("PIP_INDEX_URL", raising=False)
    monkeypatch.delenv("PIP_EXTRA_INDEX_URL", raising=False)
    monkeypatch.delenv("WHEELHOUSE_DEBUG", raising=False)
    monkeypatch.chdir(tmp_path)


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> Result:
    monkeypatch.setattr(sys, "argv", ["wheelhouse", *args])
    try:
        cli.main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return Result(code, out, err)


def project(
    tmp_path: Path, requirements: str, config: str = "", *, name: str = "requirements.txt"
) -> Path:
    (tmp_path / name).write_text(requirements, encoding="utf-8")
    path = tmp_path / "wheelhouse.yaml"
    path.write_text(f"requirements: {name}\n{config}", encoding="utf-8")
    return path


# --- the table and the exit codes -------------------------------------------------


def test_wheels_and_builds_exit_0(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    index: FakeIndex,
) -> None:
    config = project(
        tmp_path,
        "cffi==1.17.1\npycparser==2.22\ndocopt==0.6.2\n",
        f"targets:\n  - {MUSL_ARM}\n  - {GLIBC_X86}\n",
    )

    result = run(monkeypatch, capsys, "plan", "--config", str(config))

    assert result.code == 0, result.err
    assert result.err == ""
    assert result.out.splitlines()[:7] == [
        f"{MUSL_ARM}  (builds in python:3.12-alpine; Python 3.12.0 assumed)",
        "  PACKAGE    VERSION  ACTION  MODE     FILE / REASON",
        "  cffi       1.17.1   wheel            cffi-1.17.1-cp312-cp312-musllinux_1_1_aarch64.whl",
        "  docopt     0.6.2    build   emulate  docopt-0.6.2.tar.gz",
        " " * 39 + "why: no musllinux aarch64 wheel for cp312; sdist only",
        " " * 39 + "mode: no tested cross toolchain for Alpine (apk) targets",
        "  pycparser  2.22     wheel            pycparser-2.22-py3-none-any.whl",
    ]
    assert "2 wheels, 1 build, 0 errors" in result.out
    assert f"\n\n{GLIBC_X86}  (builds in python:3.12-slim; Python 3.12.0 assumed)\n" in result.out
    assert "  docopt     0.6.2    build   native  docopt-0.6.2.tar.gz\n" in result.out
    assert sorted(index.asked) == ["cffi", "docopt", "pycparser"]


def test_an_error_row_exits_3(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    index: FakeIndex,
) -> None:
    config = project(tmp_path, "cffi==1.17.1\nno-such-project==1.0\n", f"targets: [{MUSL_ARM}]\n")

    result = run(monkeypatch, capsys, "plan", "-c", str(config))

    assert result.code == 3
    assert (
        "  no-such-project  1.0      ERROR         no-such-project is not on the package index "
        f"({tmp_path / 'requirements.txt'}:2)"
    ) in result.out.splitlines()
    assert "1 wheel, 0 builds, 1 error" in result.out
    assert result.err == (
        "error: some packages can be neither downloaded nor built (see ERROR rows)\n"
    )


def test_a_version_missing_from_the_index_exits_3(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    index: FakeIndex,
) -> None:
    config = project(tmp_path, "docopt==0.6.1\n", f"targets: [{MUSL_ARM}]\n")

    result = run(monkeypatch, capsys, "plan", "-c", str(config))

    assert result.code == 3
    assert "docopt has no release 0.6.1 on the index" in result.out


def test_missing_requirements_file_exits_2(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    index: FakeIndex,
) -> None:
    config = tmp_path / "wheelhouse.yaml"
    config.write_text(f"requirements: reqs/missing.txt\ntargets: [{MUSL_ARM}]\n")

    result = run(monkeypatch, capsys, "plan", "-c", str(config))

    assert result.code == 2
    assert result.out == ""
    assert result.err == (
        f"error: requirements file not found: {tmp_path / 'reqs/missing.txt'}\n"
        "  hint: check the path in wheelhouse.yaml `requirements:` or pass --requirements\n"
    )
    assert index.asked == []


def test_bad_config_exits_2(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    index: FakeIndex,
) -> None:
    config = project(tmp_path, "docopt==0.6.2\n", "targets:\n  - id: cp312-musllinux_1_2_arm64\n")

    result = run(monkeypatch, capsys, "plan", "-c", str(config))

    assert result.code == 2
    assert result.err == (
        f"error: {config}: targets[0].id: target id 'cp312-musllinux_1_2_arm64' names the "
        "architecture as 'arm64'\n"
        "  hint: target ids use the wheel tag name: aarch64\n"
    )


def test_missing_config_file_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run(monkeypatch, capsys, "plan", "-c", "nope.yaml")

    assert (result.code, result.out) == (2, "")
    assert result.err.startswith("error: config file not found: nope.yaml\n")


def test_bad_requirement_line_exits_2(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    index: FakeIndex,
) -> None:
    config = project(tmp_path, "docopt==0.6.2 --hash=md5:abc\n", f"targets: [{MUSL_ARM}]\n")

    result = run(monkeypatch, capsys, "plan", "-c", str(config))

    assert result.code == 2
    assert result.err.startswith(f"error: {tmp_path / 'requirements.txt'}:1: ")


def test_a_usage_error_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run(monkeypatch, capsys, "plan", "--no-such-option")

    assert result.code == 2
    assert "No such option: --no-such-option" in result.err


def test_an_index_that_fails_exits_7(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    index: FakeIndex,
) -> None:
    index.status = 503
    config = project(tmp_path, "docopt==0.6.2\n", f"targets: [{MUSL_ARM}]\n")

    result = run(monkeypatch, capsys, "plan", "-c", str(config))

    assert result.code == 7
    assert result.err.startswith(
        "error: package index https://pypi.org/simple did not answer for docopt after 5 tries: "
        "HTTP 503 Service Unavailable\n"
    )


def test_no_targets_exits_2(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    index: FakeIndex,
) -> None:
    config = project(tmp_path, "docopt==0.6.2\n")

    result = run(monkeypatch, capsys, "plan", "-c", str(config))

    assert result.code == 2
    assert result.err.startswith(
        "error: no targets: wheelhouse.yaml lists none and no --target was given\n"
    )


# --- options ------------------------------------------------------------------------


def test_target_and_requirements_options_without_a_config(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    index: FakeIndex,
) -> None:
    (tmp_path / "reqs.txt").write_text("psutil==6.1.1\n")

    result = run(
        monkeypatch,
        capsys,
        "plan",
        "-r",
        "reqs.txt",
        "--target",
        GLIBC_ARM,
        "-t",
        MUSL_ARM,
        "--json",
    )

    assert result.code == 0, result.err
    plan = json.loads(result.out)
    actions = {t["id"]: t["packages"][0]["action"] for t in plan["targets"]}
    assert actions == {GLIBC_ARM: "download", MUSL_ARM: "build"}
    assert list(actions) == [GLIBC_ARM, MUSL_ARM]


def test_arch_filter(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    index: FakeIndex,
) -> None:
    config = project(
        tmp_path, "docopt==0.6.2\n", f"targets: [{MUSL_ARM}, {GLIBC_X86}, {GLIBC_ARM}]\n"
    )

    result = run(monkeypatch, capsys, "plan", "-c", str(config), "--arch", "arm64", "--json")

    assert result.code == 0, result.err
    assert [t["id"] for t in json.loads(result.out)["targets"]] == [MUSL_ARM, GLIBC_ARM]


def test_markers_are_evaluated_per_target(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    index: FakeIndex,
) -> None:
    config = project(
        tmp_path,
        'docopt==0.6.2\nRPi.GPIO==0.7.1 ; platform_machine == "aarch64"\n',
        f"targets: [{MUSL_ARM}, {GLIBC_X86}]\n",
    )

    result = run(monkeypatch, capsys, "plan", "-c", str(config), "--json")

    names = {t["id"]: [p["name"] for p in t["packages"]] for t in json.loads(result.out)["targets"]}
    assert names == {MUSL_ARM: ["docopt", "rpi-gpio"], GLIBC_X86: ["docopt"]}


def test_system_packages_follow_the_targets_package_manager(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    index: FakeIndex,
) -> None:
    config = project(
        tmp_path,
        "docopt==0.6.2\n",
        f"targets: [{MUSL_ARM}, {GLIBC_X86}]\n"
        "packages:\n  docopt:\n    apt: [libdoc-dev]\n    apk: [doc-dev]\n",
    )

    result = run(monkeypatch, capsys, "plan", "-c", str(config), "--json")

    system = {
        t["id"]: t["packages"][0]["system_packages"] for t in json.loads(result.out)["targets"]
    }
    assert system == {MUSL_ARM: ["doc-dev"], GLIBC_X86: ["libdoc-dev"]}


def test_the_plan_shows_what_the_knowledge_file_installs_for_each_build(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    index: FakeIndex,
) -> None:
    config = project(
        tmp_path, "psycopg2==2.9.10\norjson==3.10.15\n", f"targets: [{MUSL_ARM}, {GLIBC_X86}]\n"
    )

    table = run(monkeypatch, capsys, "plan", "-c", str(config))
    result = run(monkeypatch, capsys, "plan", "-c", str(config), "--json")

    assert table.code == 0, table.err
    assert "  psycopg2  2.9.10   build   emulate  psycopg2-2.9.10.tar.gz\n" in table.out
    assert " " * 38 + "system packages: libpq-dev\n" in table.out
    assert " " * 38 + "system packages: cargo rust\n" in table.out  # Alpine
    assert " " * 37 + "system packages: cargo rustc\n" in table.out  # Debian
    system = {
        (t["id"], p["name"]): p["system_packages"]
        for t in json.loads(result.out)["targets"]
        for p in t["packages"]
    }
    assert system == {
        (MUSL_ARM, "orjson"): ["cargo", "rust"],  # rust: true
        (MUSL_ARM, "psycopg2"): ["libpq-dev"],
        (GLIBC_X86, "orjson"): ["cargo", "rustc"],
        (GLIBC_X86, "psycopg2"): ["libpq-dev"],
    }


def test_the_plan_shows_each_packages_recipe(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    index: FakeIndex,
) -> None:
    (tmp_path / "fix.patch").write_bytes(b"--- a/x\n+++ b/x\n")
    config = project(
        tmp_path,
        "cffi==1.17.1\npycparser==2.22\ndocopt==0.6.2\n",
        f"targets: [{GLIBC_X86}]\n"
        "packages:\n"
        "  docopt:\n"
        "    env: {SECRETISH: hunter2, ARCH: '${TARGET_ARCH}'}\n"
        "    config_settings: {--build-option: '--plat=${PLATFORM_TAG}'}\n"
        "    patches: [fix.patch]\n"
        "    before_build: make -C vendor/lib && ./configure --with-a-very-long-option-list\n"
        "    test: docopt-check\n"
        "  cffi:\n"
        "    patches: [fix.patch]\n"
        "    imports: [cffi, _cffi_backend]\n",
    )
    patch_sha = hashlib.sha256(b"--- a/x\n+++ b/x\n").hexdigest()

    table = run(monkeypatch, capsys, "plan", "-c", str(config))
    result = run(monkeypatch, capsys, "plan", "-c", str(config), "--json")

    assert table.code == 0, table.err
    lines = [line.strip() for line in table.out.splitlines()]
    assert (
        "recipe: env SECRETISH ARCH; config_settings --build-option=--plat=manylinux_2_36_x86_64; "
        f"patches fix.patch (sha256 {patch_sha[:12]}); "
        "before_build: make -C vendor/lib && ./configure --w...; test: docopt-check"
    ) in lines
    assert (
        f"recipe: patches fix.patch (sha256 {patch_sha[:12]}); imports cffi _cffi_backend "
        "(env, config_settings, patches and before_build are unused: a wheel is downloaded; "
        "force_build: true builds it)"
    ) in lines
    assert "hunter2" not in table.out + result.out
    packages = {p["name"]: p for p in json.loads(result.out)["targets"][0]["packages"]}
    assert packages["pycparser"]["recipe"] is None
    assert packages["docopt"]["recipe"] == {
        "env": ["SECRETISH", "ARCH"],
        "config_settings": {"--build-option": "--plat=manylinux_2_36_x86_64"},
        "patches": [{"file": "fix.patch", "sha256": patch_sha}],
        "before_build": "make -C vendor/lib && ./configure --with-a-very-long-option-list",
        "test": "docopt-check",
        "imports": None,
    }
    assert packages["cffi"]["recipe"]["imports"] == ["cffi", "_cffi_backend"]


def test_wheelhouse_yaml_replaces_the_knowledge_files_list_for_its_manager(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    index: FakeIndex,
) -> None:
    config = project(
        tmp_path,
        "psycopg2==2.9.10\n",
        f"targets: [{MUSL_ARM}, {GLIBC_X86}]\n"
        "packages:\n  psycopg2:\n    apt: [libpq-dev, postgresql-server-dev-15]\n",
    )

    result = run(monkeypatch, capsys, "plan", "-c", str(config), "--json")

    system = {
        t["id"]: t["packages"][0]["system_packages"] for t in json.loads(result.out)["targets"]
    }
    assert system == {
        MUSL_ARM: ["libpq-dev"],
        GLIBC_X86: ["libpq-dev", "postgresql-server-dev-15"],
    }


def test_force_build_from_the_config(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    index: FakeIndex,
) -> None:
    config = project(
        tmp_path,
        "cffi==1.17.1\n",
        f"targets: [{MUSL_ARM}]\nbuild:\n  force_build: [CFFI]\n",
    )

    result = run(monkeypatch, capsys, "plan", "-c", str(config), "--json")

    (package,) = json.loads(result.out)["targets"][0]["packages"]
    assert (package["action"], package["file"]) == ("build", "cffi-1.17.1.tar.gz")
    assert package["reason"] == "forced to build from source (force_build)"


def test_a_warm_cache_asks_the_index_nothing(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    index: FakeIndex,
) -> None:
    config = project(tmp_path, "cffi==1.17.1\ndocopt==0.6.2\n", f"targets: [{MUSL_ARM}]\n")

    first = run(monkeypatch, capsys, "plan", "-c", str(config), "--json")
    asked = len(index.asked)
    second = run(monkeypatch, capsys, "plan", "-c", str(config), "--json")

    assert asked == 2
    assert len(index.asked) == asked
    assert first.out == second.out
    assert list((tmp_path / "cache" / "http").iterdir())


def test_refresh_asks_again(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    index: FakeIndex,
) -> None:
    config = project(tmp_path, "docopt==0.6.2\n", f"targets: [{MUSL_ARM}]\n")

    run(monkeypatch, capsys, "plan", "-c", str(config))
    run(monkeypatch, capsys, "plan", "-c", str(config), "--refresh")

    assert index.asked == ["docopt", "docopt"]


def test_index_url_of_the_requirements_file_is_used(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(404)

    def make(config: IndexConfig, **options: Any) -> IndexClient:
        return IndexClient(config, transport=httpx.MockTransport(handler), **options)

    monkeypatch.setattr(session, "IndexClient", make)
    config = project(
        tmp_path, "-i https://mirror.example/simple/\ndocopt==0.6.2\n", f"targets: [{MUSL_ARM}]\n"
    )

    result = run(monkeypatch, capsys, "plan", "-c", str(config))

    assert result.code == 3
    assert seen == ["https://mirror.example/simple/docopt/"]


# --- --json: the documented contract ------------------------------------------------


def test_json_contract(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    index: FakeIndex,
) -> None:
    config = project(
        tmp_path,
        "cffi==1.17.1\ndocopt==0.6.2\nnope==1.0\n",
        f"targets: [{MUSL_ARM}]\npackages:\n  docopt:\n    apk: [musl-dev]\n",
    )

    result = run(monkeypatch, capsys, "plan", "-c", str(config), "--json")

    assert result.code == 3
    wheel = "cffi-1.17.1-cp312-cp312-musllinux_1_1_aarch64.whl"
    assert json.loads(result.out) == {
        "targets": [
            {
                "id": MUSL_ARM,
                "packages": [
                    {
                        "name": "cffi",
                        "version": "1.17.1",
                        "action": "download",
                        "file": wheel,
                        "url": url(wheel),
                        "sha256": sha(wheel),
                        "reason": "",
                        "system_packages": [],
                        "build_mode": None,
                        "qemu_fallback": False,
                        "build_mode_reason": None,
                        "source": None,
                        "commit": None,
                        "repository": None,
                        "recipe": None,
                    },
                    {
                        "name": "docopt",
                        "version": "0.6.2",
                        "action": "build",
                        "file": "docopt-0.6.2.tar.gz",
                        "url": url("docopt-0.6.2.tar.gz"),
                        "sha256": sha("docopt-0.6.2.tar.gz"),
                        "reason": "no musllinux aarch64 wheel for cp312; sdist only",
                        "system_packages": ["musl-dev"],
                        "build_mode": "emulate",
                        "qemu_fallback": False,
                        "build_mode_reason": "no tested cross toolchain for Alpine (apk) targets",
                        "source": None,
                        "commit": None,
                        "repository": None,
                        "recipe": None,
                    },
                    {
                        "name": "nope",
                        "version": "1.0",
                        "action": "error",
                        "file": None,
                        "url": None,
                        "sha256": None,
                        "reason": "nope is not on the package index "
                        f"({tmp_path / 'requirements.txt'}:3)",
                        "system_packages": [],
                        "build_mode": None,
                        "qemu_fallback": False,
                        "build_mode_reason": None,
                        "source": None,
                        "commit": None,
                        "repository": None,
                        "recipe": None,
                    },
                ],
            }
        ]
    }


# --- build modes --------------------------------------------------------------------


def modes_of(result: Result) -> dict[tuple[str, str], tuple[Any, ...]]:
    """(target, package) -> (build_mode, qemu_fallback, build_mode_reason) of each build."""
    return {
        (t["id"], p["name"]): (p["build_mode"], p["qemu_fallback"], p["build_mode_reason"])
        for t in json.loads(result.out)["targets"]
        for p in t["packages"]
        if p["action"] == "build"
    }


def test_each_build_says_how_it_runs_on_its_target(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    index: FakeIndex,
) -> None:
    config = project(
        tmp_path,
        "docopt==0.6.2\npsycopg2==2.9.10\norjson==3.10.15\nrpi-gpio==0.7.1\n",
        f"targets: [{GLIBC_ARM}, {MUSL_ARM}, {GLIBC_X86}]\n"
        "packages:\n  rpi-gpio:\n    build_mode: emulate\n",
    )

    result = run(monkeypatch, capsys, "plan", "-c", str(config), "--json")

    assert result.code == 0, result.err
    rust = "Rust builds are not cross-compiled (no Rust std library for the target)"
    alpine = "no tested cross toolchain for Alpine (apk) targets"
    by_config = "packages.rpi-gpio.build_mode: emulate"
    assert modes_of(result) == {
        (GLIBC_ARM, "docopt"): ("cross", True, None),
        (GLIBC_ARM, "orjson"): ("emulate", False, rust),
        # Debian's pg_config answers for the target: cross first since issue 18.
        (GLIBC_ARM, "psycopg2"): ("cross", True, None),
        (GLIBC_ARM, "rpi-gpio"): ("emulate", False, by_config),
        (MUSL_ARM, "docopt"): ("emulate", False, alpine),
        (MUSL_ARM, "orjson"): ("emulate", False, alpine),
        (MUSL_ARM, "psycopg2"): ("emulate", False, alpine),
        (MUSL_ARM, "rpi-gpio"): ("emulate", False, by_config),
        (GLIBC_X86, "docopt"): ("native", False, None),
        (GLIBC_X86, "orjson"): ("native", False, None),
        (GLIBC_X86, "psycopg2"): ("native", False, None),
        (GLIBC_X86, "rpi-gpio"): ("native", False, None),
    }


def test_the_table_shows_the_mode_and_why_when_it_is_not_the_default(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    index: FakeIndex,
) -> None:
    config = project(tmp_path, "docopt==0.6.2\npsycopg2==2.9.10\n", f"targets: [{GLIBC_ARM}]\n")

    result = run(monkeypatch, capsys, "plan", "-c", str(config))

    assert result.code == 0, result.err
    assert result.out.splitlines() == [
        f"{GLIBC_ARM}  (builds in python:3.12-slim; Python 3.12.0 assumed)",
        "  PACKAGE   VERSION  ACTION  MODE   FILE / REASON",
        "  docopt    0.6.2    build   cross  docopt-0.6.2.tar.gz",
        " " * 36 + "why: no manylinux aarch64 wheel for cp312; sdist only",
        "  psycopg2  2.9.10   build   cross  psycopg2-2.9.10.tar.gz",
        " " * 36 + "why: no manylinux aarch64 wheel for cp312; sdist only",
        " " * 36 + "system packages: libpq-dev",
        "0 wheels, 2 builds, 0 errors",
    ]


def test_plan_takes_the_mode_and_emulate_options_of_build(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    index: FakeIndex,
) -> None:
    config = project(
        tmp_path, "docopt==0.6.2\npsycopg2==2.9.10\n", f"targets: [{GLIBC_ARM}, {MUSL_ARM}]\n"
    )

    forced = run(monkeypatch, capsys, "plan", "-c", str(config), "--json", "--mode", "cross")
    emulated = run(monkeypatch, capsys, "plan", "-c", str(config), "--json", "--emulate", "DocOpt")

    assert (forced.code, emulated.code) == (0, 0), forced.err + emulated.err
    assert modes_of(forced) == {
        (GLIBC_ARM, "docopt"): ("cross", False, "--mode cross: no QEMU fallback"),
        (GLIBC_ARM, "psycopg2"): ("cross", False, "--mode cross: no QEMU fallback"),
        (MUSL_ARM, "docopt"): (
            "cross",
            False,
            "--mode cross, but no tested cross toolchain for Alpine (apk) targets: "
            "the build will fail",
        ),
        (MUSL_ARM, "psycopg2"): (
            "cross",
            False,
            "--mode cross, but no tested cross toolchain for Alpine (apk) targets: "
            "the build will fail",
        ),
    }
    assert modes_of(emulated)[GLIBC_ARM, "docopt"] == ("emulate", False, "--emulate")
    assert modes_of(emulated)[MUSL_ARM, "docopt"] == ("emulate", False, "--emulate")


def test_plan_refuses_an_unknown_mode(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    index: FakeIndex,
) -> None:
    config = project(tmp_path, "docopt==0.6.2\n", f"targets: [{GLIBC_ARM}]\n")

    result = run(monkeypatch, capsys, "plan", "-c", str(config), "--mode", "qemu")

    assert (result.code, result.out) == (2, "")
    assert result.err == (
        "error: --mode 'qemu' is not one of auto, cross, emulate\n"
        "  hint: e.g. --mode emulate (QEMU for every package) or --emulate PKG for one\n"
    )
    assert index.asked == []


def test_the_plan_builds_on_this_machines_architecture(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    index: FakeIndex,
) -> None:
    monkeypatch.setattr(cli, "host_arch", lambda: Arch.AARCH64)
    config = project(tmp_path, "docopt==0.6.2\n", f"targets: [{GLIBC_ARM}, {GLIBC_X86}]\n")

    result = run(monkeypatch, capsys, "plan", "-c", str(config), "--json")

    assert modes_of(result) == {
        (GLIBC_ARM, "docopt"): ("native", False, None),
        (GLIBC_X86, "docopt"): ("cross", True, None),
    }


# --- uv for loose input -------------------------------------------------------------


def test_loose_requirements_are_resolved_per_target_with_its_platform(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    index: FakeIndex,
) -> None:
    uv = fake_uv(
        monkeypatch,
        FakeUv(
            {
                "aarch64-unknown-linux-musl": "cffi==1.17.1\npycparser==2.22\n",
                "aarch64-manylinux_2_36": "cffi==1.17.1\npycparser==2.22\n",
                "x86_64-manylinux_2_36": "docopt==0.6.2\n",
            }
        ),
    )
    config = project(tmp_path, "cffi>=1.15\n", f"targets: [{MUSL_ARM}, {GLIBC_ARM}, {GLIBC_X86}]\n")

    result = run(monkeypatch, capsys, "plan", "-c", str(config), "--json")

    assert result.code == 0, result.err
    assert uv.option("--python-platform") == [
        "aarch64-unknown-linux-musl",
        "aarch64-manylinux_2_36",
        "x86_64-manylinux_2_36",
    ]
    assert uv.option("--python-version") == ["3.12", "3.12", "3.12"]
    assert uv.option("--index-url") == ["https://pypi.org/simple"] * 3
    assert all(
        cmd[1:4] == ["pip", "compile", str(tmp_path / "requirements.txt")] for cmd in uv.commands
    )
    assert all("--no-python-downloads" in cmd for cmd in uv.commands)
    names = {t["id"]: [p["name"] for p in t["packages"]] for t in json.loads(result.out)["targets"]}
    assert names == {
        MUSL_ARM: ["cffi", "pycparser"],
        GLIBC_ARM: ["cffi", "pycparser"],
        GLIBC_X86: ["docopt"],
    }


def test_resolve_always_resolves_pinned_input(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    index: FakeIndex,
) -> None:
    uv = fake_uv(
        monkeypatch,
        FakeUv({"x86_64-manylinux_2_36": "cffi==1.17.1\npycparser==2.22\n"}),
    )
    config = project(
        tmp_path,
        "--extra-index-url https://extra.example/simple\ncffi==1.17.1\n",
        f"resolve: always\ntargets: [{GLIBC_X86}]\n",
    )

    result = run(monkeypatch, capsys, "plan", "-c", str(config), "--json")

    assert result.code == 0, result.err
    assert uv.option("--python-platform") == ["x86_64-manylinux_2_36"]
    assert uv.option("--extra-index-url") == ["https://extra.example/simple"]
    packages = json.loads(result.out)["targets"][0]["packages"]
    assert [p["name"] for p in packages] == ["cffi", "pycparser"]


def test_pinned_input_never_runs_uv(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    index: FakeIndex,
) -> None:
    uv = fake_uv(monkeypatch, FakeUv({}))
    config = project(tmp_path, "cffi==1.17.1\n", f"targets: [{MUSL_ARM}]\n")

    assert run(monkeypatch, capsys, "plan", "-c", str(config)).code == 0
    assert uv.commands == []


def test_uv_failing_to_resolve_exits_2(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    index: FakeIndex,
) -> None:
    fake_uv(
        monkeypatch,
        FakeUv({}, returncode=1, stderr="  x No solution found when resolving dependencies\n"),
    )
    config = project(tmp_path, "cffi>=99\n", f"targets: [{MUSL_ARM}]\n")

    result = run(monkeypatch, capsys, "plan", "-c", str(config))

    assert result.code == 2
    assert result.err == (
        f"error: uv could not resolve {tmp_path / 'requirements.txt'} for {MUSL_ARM}:\n"
        "x No solution found when resolving dependencies\n"
        "  hint: loosen or fix the conflicting requirements, or pin them for this target\n"
    )


def test_resolve_never_with_loose_input_exits_2(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    index: FakeIndex,
) -> None:
    config = project(tmp_path, "cffi>=1.15\n", f"resolve: never\ntargets: [{MUSL_ARM}]\n")

    result = run(monkeypatch, capsys, "plan", "-c", str(config))

    assert result.code == 2
    assert result.err.startswith(
        f"error: {tmp_path / 'requirements.txt'}:1: cffi>=1.15\n"
        "  not pinned with ==, and wheelhouse.yaml says `resolve: never`\n"
    )


# --- uv.lock ------------------------------------------------------------------------


def test_uv_lock_input_needs_neither_index_nor_uv(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    index: FakeIndex,
) -> None:
    uv = fake_uv(monkeypatch, FakeUv({}))

    result = run(
        monkeypatch,
        capsys,
        "plan",
        "-r",
        str(DEMO_LOCK),
        "-t",
        MUSL_ARM,
        "-t",
        GLIBC_X86,
        "--json",
    )

    assert result.code == 0, result.err
    assert index.asked == []
    assert uv.commands == []
    names = {t["id"]: {p["name"] for p in t["packages"]} for t in json.loads(result.out)["targets"]}
    assert names[MUSL_ARM] - names[GLIBC_X86] == {"rpi-gpio"}
    assert "pywin32" not in names[MUSL_ARM] | names[GLIBC_X86]


# --- the session's own wiring -------------------------------------------------------


def test_session_merges_force_build_of_the_config_and_the_caller(tmp_path: Path) -> None:
    config = project(
        tmp_path,
        "docopt==0.6.2\n",
        f"targets: [{MUSL_ARM}]\nbuild:\n  force_build: [uwsgi]\n"
        "packages:\n  psutil:\n    force_build: true\n",
    )

    opened = session.Session.open(config, None, [], [], force_build=["CFFI", "Zope.Interface"])

    assert opened.force_build == {"uwsgi", "psutil", "cffi", "zope-interface"}
    assert opened.cache_dir == tmp_path / "cache"
    assert opened.requirements == tmp_path / "requirements.txt"


def test_session_cache_dir_of_the_config_wins(tmp_path: Path) -> None:
    config = project(tmp_path, "docopt==0.6.2\n", f"cache_dir: here\ntargets: [{MUSL_ARM}]\n")

    assert session.Session.open(config, None, [], []).cache_dir == tmp_path / "here"


def test_a_target_without_a_package_manager_gets_no_system_packages(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    index: FakeIndex,
) -> None:
    config = project(
        tmp_path,
        "docopt==0.6.2\n",
        f"targets:\n  - id: {MUSL_ARM}\n    package_manager: none\n"
        "packages:\n  docopt:\n    apk: [doc-dev]\n",
    )

    result = run(monkeypatch, capsys, "plan", "-c", str(config), "--json")

    assert json.loads(result.out)["targets"][0]["packages"][0]["system_packages"] == []


def test_the_example_takes_libpq_from_the_knowledge_file() -> None:
    example = session.Session.open(
        ROOT / "examples/pi-backend/wheelhouse.local.yaml", None, [], ["arm64"]
    )
    (tcfg,) = example.targets
    assert "psycopg2" not in example.config.packages
    assert example.system_packages(canonicalize_name("psycopg2"), tcfg.target) == ("libpq-dev",)


# --- --find-links folders -----------------------------------------------------------


def test_find_links_folder_files_are_planned_beside_the_index_and_handed_to_uv(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    index: FakeIndex,
) -> None:
    """Loose input: uv gets the folder's absolute path; the folder's sdist (a project the
    index lacks) and wheel (beside the index's sdist) are planned with their sha256."""
    wheels = tmp_path / "app" / "wheels"
    wheels.mkdir(parents=True)
    (wheels / "tinypkg-0.1.0.tar.gz").write_bytes(b"an sdist")
    (wheels / "docopt-0.6.2-py3-none-any.whl").write_bytes(b"a wheel")
    (wheels / "README.txt").write_text("not a distribution")
    uv = fake_uv(monkeypatch, FakeUv({"x86_64-manylinux_2_36": "docopt==0.6.2\ntinypkg==0.1.0\n"}))
    config = project(tmp_path, "", f"targets: [{GLIBC_X86}]\n", name="app/requirements.txt")
    (tmp_path / "app" / "requirements.txt").write_text("--find-links=wheels\ndocopt\ntinypkg\n")

    result = run(monkeypatch, capsys, "plan", "-c", str(config), "--json")

    assert result.code == 0, result.err
    assert uv.option("--find-links") == [str(wheels)]
    packages = {p["name"]: p for p in json.loads(result.out)["targets"][0]["packages"]}
    assert {n: (p["action"], p["file"], p["source"]) for n, p in packages.items()} == {
        "docopt": ("download", "docopt-0.6.2-py3-none-any.whl", "find-links"),
        "tinypkg": ("build", "tinypkg-0.1.0.tar.gz", "find-links"),
    }
    assert packages["tinypkg"]["url"] == (wheels / "tinypkg-0.1.0.tar.gz").as_uri()
    assert packages["tinypkg"]["sha256"] == hashlib.sha256(b"an sdist").hexdigest()
    table = run(monkeypatch, capsys, "plan", "-c", str(config))
    assert f"from: find-links {wheels / 'tinypkg-0.1.0.tar.gz'}" in table.out


def test_a_missing_find_links_folder_is_a_bad_input_error(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    index: FakeIndex,
) -> None:
    config = project(tmp_path, "--find-links=python_wheels\ndocopt\n", f"targets: [{GLIBC_X86}]\n")

    result = run(monkeypatch, capsys, "plan", "-c", str(config))

    assert result.code == 2
    assert f"{tmp_path / 'requirements.txt'}:1: --find-links=python_wheels" in result.err
    assert f"--find-links folder not found: {tmp_path / 'python_wheels'}" in result.err
