"""Build requirements and system packages with the real engine and the real PyPI.

- psycopg2 (from the session's one example build for linux/arm64): libpq-dev comes from
  the knowledge file (the example's wheelhouse.yaml no longer names it), it is
  cross-compiled in ``auto`` mode with no QEMU fallback (Debian's pg_config answers for the
  target, issue 18), and the wheel imports in a clean arm64 container without libpq5,
  libpq vendored by auditwheel.
- argon2-cffi-bindings (cffi in its build-system.requires, amd64): built offline with
  cffi's compiled part taken for the target from PyPI, then with cffi forced to build
  from source, built first in a level of its own.
- an in-tree backend whose get_requires_for_build_wheel asks for more (amd64): the build
  asks the backend inside the container, the package is built again with it, and the next
  run provides it from the start.
- pysqlite3 (needs sqlite3.h, not in the knowledge file, amd64): fails with the snippet
  that adds libsqlite3-dev, and succeeds once that snippet is in wheelhouse.yaml.
"""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

from orchestrator.build.builder import build_target
from orchestrator.build.cache import META_FILE, BuildCache
from orchestrator.build.progress import ProgressEvent
from orchestrator.build.requires import ResolvedWheels, UvCompiler, resolve_wheels
from orchestrator.cli.reports import build_summary_markdown
from orchestrator.config import TargetConfig
from orchestrator.knowledge import load_knowledge
from orchestrator.model import Artifact, PackagePlan, Pin, TargetBuild, TargetPlan
from orchestrator.pipeline import BuildOptions, BuildRun, run_build
from orchestrator.plan.planner import plan_target
from orchestrator.pypi.downloads import Downloader, FileStore, sha256_of
from orchestrator.pypi.index import IndexClient, IndexConfig
from orchestrator.session import Session
from orchestrator.targets import Target

if TYPE_CHECKING:  # pytest hands the fixture in; conftest is not importable as such
    from tests.integration.conftest import ExampleBuild, SetBuilder

pytestmark = [pytest.mark.engine, pytest.mark.network]

AMD64 = Target.parse("cp311-manylinux_2_36_x86_64")
AMD64_IMAGE = "wheelhouse-test/python:3.11-bookworm-amd64"
ARM64_IMAGE = "wheelhouse-test/python:3.11-bookworm-arm64"
ARGON2 = canonicalize_name("argon2-cffi-bindings")
CFFI = canonicalize_name("cffi")
ARGON2_CHECK = """
import platform
from _argon2_cffi_bindings import ffi, lib
out = ffi.new("uint8_t[]", 32)
pwd, salt = b"password", b"somesalt"
rc = lib.argon2_hash(
    2, 1024, 1, pwd, len(pwd), salt, len(salt), out, 32, ffi.NULL, 0, lib.Argon2_id,
    lib.ARGON2_VERSION_NUMBER,
)
assert rc == lib.ARGON2_OK, rc
print("ok", platform.machine(), bytes(out).hex()[:16])
"""


def docker_run(image: str, platform: str, script: str, wheels: Path) -> str:
    """``script`` in a fresh container of ``image``, offline, the wheels mounted at /wheels."""
    args = ["docker", "run", "--rm", "--network=none", "--platform", platform]
    args += ["-v", f"{wheels}:/wheels:ro", image, "sh", "-c", script]
    done = subprocess.run(args, capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def install_and_run(python: str, packages: str) -> str:
    """A pip-less venv filled by the image's pip (ensurepip under QEMU costs ~40 s)."""
    return (
        "python3 -m venv --without-pip /tmp/v && python3 -m pip --python /tmp/v/bin/python "
        f"install -q --no-compile --no-index --find-links /wheels {packages} "
        f"&& /tmp/v/bin/python -c '{python}'"
    )


def copy_wheels(artifacts: Sequence[Artifact], into: Path) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    for artifact in artifacts:
        (into / artifact.path.name).write_bytes(artifact.path.read_bytes())
    return into


# --- psycopg2, from the example's one arm64 build -----------------------------------------------


def psycopg2_wheel(example: ExampleBuild) -> Artifact:
    (build,) = example.run.builds
    (wheel,) = [a for a in build.artifacts if a.name == "psycopg2"]
    return wheel


def test_psycopg2_takes_libpq_dev_from_the_knowledge_file(
    example_arm64_build: ExampleBuild,
) -> None:
    assert "psycopg2" not in example_arm64_build.session.config.packages
    (plan,) = example_arm64_build.run.plan.targets
    (psycopg2,) = [p for p in plan.packages if p.name == "psycopg2"]
    assert (psycopg2.action, psycopg2.system_packages) == ("build", ("libpq-dev",))
    (build,) = example_arm64_build.run.builds
    assert [f for f in build.failures if f.name == "psycopg2"] == []
    wheel = psycopg2_wheel(example_arm64_build)
    assert wheel.origin == "built"
    # Cross-compiled and through the target check: no QEMU build (issue 18).
    assert (wheel.build_mode, wheel.fallback_reason) == ("cross", None)


def test_psycopg2s_wheel_carries_libpq_for_aarch64(example_arm64_build: ExampleBuild) -> None:
    wheel = psycopg2_wheel(example_arm64_build).path
    tags = {t.platform for t in parse_wheel_filename(wheel.name)[3]}
    assert tags and all(t.startswith("manylinux_2_") and t.endswith("_aarch64") for t in tags)
    with zipfile.ZipFile(wheel) as archive:
        vendored = [n for n in archive.namelist() if "/libpq" in n and ".libs/" in n]
    assert vendored, "auditwheel vendored no libpq into the wheel"


def test_psycopg2_imports_in_a_clean_arm64_container_without_libpq(
    example_arm64_build: ExampleBuild, tmp_path: Path
) -> None:
    wheels = copy_wheels([psycopg2_wheel(example_arm64_build)], tmp_path / "wheels")
    check = (
        "import platform, psycopg2, psycopg2.extensions as e; "
        'print("ok", platform.machine(), e.libpq_version())'
    )
    script = (
        "if dpkg -s libpq5 >/dev/null 2>&1; then echo libpq5 is installed; exit 3; fi; "
        + install_and_run(check, "psycopg2")
    )
    out = docker_run(ARM64_IMAGE, "linux/arm64", script, wheels)
    ok, machine, libpq = out.strip().splitlines()[-1].split()
    assert (ok, machine) == ("ok", "aarch64")
    assert int(libpq) >= 150000  # bookworm's libpq 15, linked in at build time


# --- a build requirement with a compiled part (amd64) -------------------------------------------


@dataclass
class Amd64:
    shared: SetBuilder
    index: IndexClient
    compiler: UvCompiler

    def resolver(
        self, force: frozenset[str]
    ) -> tuple[list[ResolvedWheels], Callable[[Sequence[str], Target], ResolvedWheels]]:
        seen: list[ResolvedWheels] = []
        knowledge = load_knowledge()

        def resolve(requirements: Sequence[str], target: Target) -> ResolvedWheels:
            resolved = resolve_wheels(
                requirements,
                target,
                compile_for=self.compiler,
                fetch_projects=self.index.get_projects_sync,
                force_build=force,
                system_packages=lambda name, _t: knowledge.build_packages(name, "apt"),
            )
            seen.append(resolved)
            return resolved

        return seen, resolve

    def build(
        self, pins: Sequence[Pin], cache: Path, force_requirements: frozenset[str]
    ) -> tuple[TargetBuild, list[ResolvedWheels], list[ProgressEvent], int]:
        plan = plan_target(AMD64, pins, self.index.get_projects_sync([p.name for p in pins]))
        return self.build_plan(plan, cache, force_requirements)

    def build_plan(
        self, plan: TargetPlan, cache: Path, force_requirements: frozenset[str] = frozenset()
    ) -> tuple[TargetBuild, list[ResolvedWheels], list[ProgressEvent], int]:
        seen, resolve = self.resolver(force_requirements)
        events: list[ProgressEvent] = []
        counting = self.shared.counting_engine()
        tcfg = TargetConfig(
            target=AMD64,
            base_image=AMD64_IMAGE,
            runtime_image=AMD64_IMAGE,
            package_manager="apt",
            system_packages=("python3-dev",),
        )
        build = build_target(
            plan,
            tcfg,
            engine=counting,
            downloader=Downloader.for_cache(cache),
            cache=BuildCache.for_cache(cache),
            resolve=resolve,
            workdir=cache / "work",
            log_dir=cache / "logs",
            timeout=900,
            progress=events.append,
        )
        return build, seen, events, counting.buildx_runs


@pytest.fixture(scope="module")
def amd64(shared_builds: SetBuilder) -> Amd64:
    """Builds for amd64 with the real engine (counting its buildx runs) and the real PyPI."""
    return Amd64(
        shared=shared_builds, index=IndexClient(IndexConfig(), cache=None), compiler=UvCompiler()
    )


def argon2_pins() -> list[Pin]:
    """argon2-cffi-bindings from source; cffi and pycparser, its run-time dependencies."""
    return [
        Pin(name=ARGON2, version=Version("25.1.0"), force_build=True),
        Pin(name=CFFI, version=Version("2.1.1")),
        Pin(name=canonicalize_name("pycparser"), version=Version("3.12")),
    ]


def test_cffi_for_the_target_comes_from_pypi_into_the_offline_build(
    amd64: Amd64, tmp_path: Path
) -> None:
    build, seen, _events, runs = amd64.build(argon2_pins(), tmp_path / "cache", frozenset())

    assert build.failures == (), [f.reason + "\n" + f.log_tail for f in build.failures]
    assert runs == 1
    (for_argon2,) = [r for r in seen if any(req.startswith("cffi") for req in r.requested)]
    assert for_argon2.builds == ()
    (cffi,) = [w for w in for_argon2.wheels if w.name == "cffi"]
    assert cffi.file is not None
    platforms = {t.platform for t in parse_wheel_filename(cffi.file)[3]}
    assert any(p.endswith("_x86_64") and p.startswith("manylinux") for p in platforms), cffi.file
    assert all(t.interpreter == "cp311" for t in parse_wheel_filename(cffi.file)[3])
    wheels = copy_wheels(build.artifacts, tmp_path / "wheels")
    out = docker_run(
        AMD64_IMAGE, "linux/amd64", install_and_run(ARGON2_CHECK, "argon2-cffi-bindings"), wheels
    )
    assert out.strip().splitlines()[-1].startswith("ok x86_64 ")


def test_a_build_requirement_forced_from_source_is_built_first(
    amd64: Amd64, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    build, _seen, events, runs = amd64.build(
        argon2_pins()[:1], cache, frozenset({"cffi", "argon2-cffi-bindings"})
    )

    assert build.failures == (), [f.reason + "\n" + f.log_tail for f in build.failures]
    assert runs == 2  # one level each: cffi, then argon2-cffi-bindings
    built = [e.package for e in events if e.kind == "package-built"]
    assert built == [CFFI, ARGON2]
    assert [a.name for a in build.artifacts] == [ARGON2]  # cffi fed the build only
    entries = {
        meta["name"]: meta
        for meta in (json.loads(p.read_text()) for p in (cache / "built").glob(f"*/{META_FILE}"))
    }
    (cffi_wheel,) = entries["cffi"]["wheels"]
    assert "-cp311-cp311-manylinux" in cffi_wheel and cffi_wheel.endswith("_x86_64.whl")
    cffi_built = next(iter((cache / "built").glob(f"*/{cffi_wheel}")))
    key_inputs = entries["argon2-cffi-bindings"]["key_inputs"]
    assert sha256_of(cffi_built) in key_inputs["build_requirement_sha256s"]
    assert "libffi-dev" in key_inputs["toolchain_packages"]  # cffi's, from the knowledge file


# --- what the backend asks for beyond build-system.requires -------------------------------------

#: An in-tree backend whose get_requires_for_build_wheel asks for iniconfig, and
#: whose build_wheel fails unless it is installed (as a backend that needs its tool would).
ASKING_BACKEND = """\
from setuptools import build_meta as _setuptools
from setuptools.build_meta import *

def get_requires_for_build_wheel(config_settings=None):
    return ["iniconfig==2.3.0"]

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    import iniconfig
    return _setuptools.build_wheel(wheel_directory, config_settings, metadata_directory)
"""


def asking_sdist(cache: Path) -> PackagePlan:
    """The sdist, put straight into the download store (it is on no index)."""
    source = cache.parent / "asking-1.0.tar.gz"
    files = {
        "asking-1.0/pyproject.toml": '[build-system]\nrequires = ["setuptools>=61"]\n'
        'build-backend = "backend"\nbackend-path = ["."]\n\n'
        '[project]\nname = "asking"\nversion = "1.0"\n\n'
        '[tool.setuptools]\npy-modules = ["asking"]\n',
        "asking-1.0/backend.py": ASKING_BACKEND,
        "asking-1.0/asking.py": "VALUE = 1\n",
        "asking-1.0/PKG-INFO": "Metadata-Version: 2.1\nName: asking\nVersion: 1.0\n",
    }
    with tarfile.open(source, "w:gz") as archive:
        for name, text in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(text.encode())
            archive.addfile(info, io.BytesIO(text.encode()))
    sha = sha256_of(source)
    store = FileStore(cache / "files")
    temp = store.temp_file()
    temp.write_bytes(source.read_bytes())
    store.put(temp, sha, source.name)
    return PackagePlan(
        name=canonicalize_name("asking"),
        version="1.0",
        action="build",
        file=source.name,
        url="https://files.invalid/asking-1.0.tar.gz",
        sha256=sha,
    )


def test_what_the_backend_asks_for_is_provided_and_the_package_built_again(
    amd64: Amd64, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    plan = TargetPlan(target=AMD64, packages=(asking_sdist(cache),))

    build, seen, events, runs = amd64.build_plan(plan, cache)

    assert build.failures == (), [f.reason + "\n" + f.log_tail for f in build.failures]
    assert runs == 2
    asked = [e.message for e in events if e.kind == "resolve" and e.package == "asking"]
    assert "the build backend also asks for iniconfig==2.3.0: building again with them" in asked
    (resolved,) = [r for r in seen if "iniconfig==2.3.0" in r.requested]
    assert [w.file for w in resolved.wheels if w.name == "iniconfig"] == [
        "iniconfig-2.3.0-py3-none-any.whl"
    ]
    assert [a.path.name for a in build.artifacts] == ["asking-1.0-py3-none-any.whl"]
    # the next run provides iniconfig from the start: the build cache has the wheel, no buildx run
    again, _seen, _events, runs = amd64.build_plan(plan, cache)
    assert (runs, [a.cached for a in again.artifacts]) == (0, [True])


# --- a header the knowledge file does not know of: the snippet, then success --------------------


def sqlite_project(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "requirements.txt").write_text("pysqlite3==0.5.4\n", encoding="utf-8")
    config = root / "wheelhouse.yaml"
    config.write_text(
        "requirements: requirements.txt\n"
        "output: wheelhouse\n"
        "cache_dir: cache\n"
        "targets:\n"
        f"  - id: {AMD64.id}\n"
        f"    base_image: {AMD64_IMAGE}\n"
        "    system_packages: [python3-dev]\n",
        encoding="utf-8",
    )
    return config


def build_project(config: Path, *, verify: bool) -> BuildRun:
    session = Session.open(config, None, [], [])
    return run_build(session, BuildOptions(verify=verify), lambda _line: None, lambda _e: None)


def test_a_missing_header_fails_with_the_snippet_and_the_snippet_fixes_it(
    tmp_path: Path,
) -> None:
    assert "pysqlite3" not in load_knowledge().packages
    config = sqlite_project(tmp_path / "project")

    first = build_project(config, verify=False)

    (failure,) = first.builds[0].failures
    assert failure.name == "pysqlite3"
    assert failure.hint == (
        "pysqlite3: the C header sqlite3.h is missing; libsqlite3-dev (apt) provides it\n"
        "packages:\n  pysqlite3:\n    apt: [libsqlite3-dev]"
    )
    summary = build_summary_markdown(first.builds)
    assert "    packages:\n      pysqlite3:\n        apt: [libsqlite3-dev]\n" in summary

    snippet = failure.hint.split("\n", 1)[1]
    config.write_text(config.read_text(encoding="utf-8") + snippet + "\n", encoding="utf-8")
    assert yaml.safe_load(config.read_text())["packages"] == {
        "pysqlite3": {"apt": ["libsqlite3-dev"]}
    }
    second = build_project(config, verify=True)

    assert second.problem() is None, [f.reason for b in second.builds for f in b.failures]
    (plan,) = second.plan.targets
    assert plan.packages[0].system_packages == ("libsqlite3-dev",)
    assert [(a.name, a.origin) for a in second.builds[0].artifacts] == [("pysqlite3", "built")]
    (report,) = second.verified
    assert report.ok, report
