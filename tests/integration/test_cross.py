"""Cross builds for real: the real engine (buildx, QEMU for the target check) and PyPI.

One ``build_target`` in ``auto`` mode cross-compiles cffi (forced from source), crcmod,
psutil (forced), netifaces, psycopg2 (its build runs ``pg_config``: libpq-dev:arm64's,
which answers for the target) and docopt (pure) for the arm64 bookworm test target on this
machine, checks each wheel on the target under QEMU and stores it. Every one is compared
with the same sdist built under QEMU (cffi, crcmod and docopt by test_build.py's
``shared_builds``, built once per session; psutil, netifaces and psycopg2 here): same wheel
names, same file lists, same undefined symbols per ELF object. Every cross-built wheel,
and the wheel of the package below, then install and import in a clean arm64 container
(psycopg2 with the libpq auditwheel vendored: the image has no libpq5).

``scanint`` is an sdist made here whose C code calls glibc 2.38's ``__isoc23_sscanf``
when it is cross-compiled (as wheels cross-built with a newer Debian suite's toolchain
do): its cross-built wheel fails the target check, so it is built again under QEMU and
lands in the wheelhouse with the reason. It is built in a run of its own so that its QEMU
toolchain stage is the one test_build.py's arm64 build already made (same packages).
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from packaging.utils import canonicalize_name

from orchestrator.build.progress import ProgressEvent
from orchestrator.config import TargetConfig
from orchestrator.knowledge import load_knowledge
from orchestrator.model import Artifact, PackagePlan, TargetBuild, TargetPlan
from orchestrator.plan.modes import BuildModes
from orchestrator.plan.planner import SystemPackagesFor
from orchestrator.pypi.downloads import FileStore
from orchestrator.targets import Target

if TYPE_CHECKING:  # pytest hands the fixtures in; conftest is not importable as such
    from tests.integration.conftest import BuiltSet, SetBuilder, WheelReader

pytestmark = [pytest.mark.engine, pytest.mark.network]

REPO = Path(__file__).resolve().parents[2]
TARGET = Target.parse("cp311-manylinux_2_36_aarch64")
ARM64_IMAGE = "wheelhouse-test/python:3.11-bookworm-arm64"
AMD64_IMAGE = "wheelhouse-test/python:3.11-bookworm-amd64"
TCFG = TargetConfig(
    target=TARGET,
    base_image=ARM64_IMAGE,
    runtime_image=ARM64_IMAGE,
    package_manager="apt",
    # The same as test_build.py's arm64 target: one QEMU toolchain layer for the suite.
    system_packages=("python3-dev", "libffi-dev"),
    # No registry here: the arm64 tag holds arm64 only; the cross stages need amd64.
    cross_image=AMD64_IMAGE,
)
#: name, version, force_build (cffi and psutil have aarch64 wheels on PyPI).
PINS: tuple[tuple[str, str, bool], ...] = (
    ("cffi", "1.17.1", True),
    ("crcmod", "1.7", False),
    ("psutil", "6.1.1", True),
    ("netifaces", "0.11.0", False),
    ("docopt", "0.6.2", False),
    ("pycparser", "2.22", False),
    # Its build runs pg_config (libpq-dev:arm64's answers for the target; the knowledge
    # file's libpq-dev): issue 18's case for builds that ask a config tool.
    ("psycopg2", "2.9.10", False),
)
CROSS_BUILT = ("cffi", "crcmod", "docopt", "netifaces", "psutil", "psycopg2")
#: Also built under QEMU (cffi, crcmod, docopt by test_build.py's shared set; psutil,
#: netifaces and psycopg2 here): compared file by file and symbol by symbol.
COMPARED = ("cffi", "crcmod", "docopt", "netifaces", "psutil", "psycopg2")
#: Built under QEMU in a run of their own (test_build.py's QEMU toolchain + libpq-dev).
QEMU_ONLY_HERE = (
    ("psutil", "6.1.1", True),
    ("netifaces", "0.11.0", False),
    ("psycopg2", "2.9.10", False),
)
QEMU_MORE = tuple(name for name, _, _ in QEMU_ONLY_HERE)
IMPORT_CHECK = """
import platform, cffi, _cffi_backend, crcmod, crcmod.predefined, psutil, netifaces, docopt
import psycopg2.extensions
import scanint
assert psycopg2.extensions.libpq_version() >= 150000
ffi = cffi.FFI()
ffi.cdef("int abs(int);")
assert ffi.dlopen(None).abs(-7) == 7
from crcmod.crcmod import _usingExtension
assert _usingExtension, "crcmod fell back to pure Python"
assert crcmod.predefined.mkCrcFun("crc-32")(b"123456789") == 0xCBF43926
assert psutil.cpu_count() >= 1 and psutil.Process().pid > 0
assert "lo" in netifaces.interfaces()
assert scanint.parse("42") == 42
print("ok", platform.machine())
"""

# --- the package whose cross build goes wrong -----------------------------------------------------

SCANINT_SETUP = """\
import os
from setuptools import Extension, setup

# Stands for a build that goes wrong only when cross-compiled, as with a toolchain of a
# newer Debian suite than the target's: the C code then calls glibc 2.38's sscanf.
cross = "_PYTHON_HOST_PLATFORM" in os.environ
macros = [("WHEELHOUSE_TEST_CROSS", "1")] if cross else []
setup(ext_modules=[Extension("scanint", ["scanint.c"], define_macros=macros)])
"""
SCANINT_C = """\
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdio.h>
#ifdef WHEELHOUSE_TEST_CROSS
extern int __isoc23_sscanf(const char *, const char *, ...);
#define SCAN __isoc23_sscanf
#else
#define SCAN sscanf
#endif

static PyObject *parse(PyObject *self, PyObject *text) {
    const char *s = PyUnicode_AsUTF8(text);
    int value = 0;
    if (s == NULL) return NULL;
    if (SCAN(s, "%d", &value) != 1) return PyErr_Format(PyExc_ValueError, "not a number");
    return PyLong_FromLong(value);
}

static PyMethodDef methods[] = {{"parse", parse, METH_O, NULL}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "scanint", NULL, -1, methods};
PyMODINIT_FUNC PyInit_scanint(void) { return PyModule_Create(&module); }
"""
SCANINT_FILES = {
    "scanint-1.0/PKG-INFO": "Metadata-Version: 2.1\nName: scanint\nVersion: 1.0\n",
    "scanint-1.0/setup.cfg": "[metadata]\nname = scanint\nversion = 1.0\n",
    "scanint-1.0/setup.py": SCANINT_SETUP,
    "scanint-1.0/scanint.c": SCANINT_C,
}


def scanint_sdist(store: FileStore) -> PackagePlan:
    """The sdist, put straight into the download store (nothing fetches it)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, text in SCANINT_FILES.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    body = buffer.getvalue()
    sha = hashlib.sha256(body).hexdigest()
    temp = store.temp_file()
    temp.write_bytes(body)
    store.put(temp, sha, "scanint-1.0.tar.gz")
    return PackagePlan(
        name=canonicalize_name("scanint"),
        version="1.0",
        action="build",
        file="scanint-1.0.tar.gz",
        url="https://wheelhouse.invalid/scanint-1.0.tar.gz",
        sha256=sha,
        reason="made by the test",
    )


# --- the builds -----------------------------------------------------------------------------------


@dataclass
class CrossRun:
    """``build_target`` in ``auto`` mode, twice: ``second`` must come from the build cache."""

    first: TargetBuild
    second: TargetBuild
    buildx_runs: tuple[int, int]
    seconds: float
    events: list[ProgressEvent]
    cache: Path

    def artifact(self, name: str) -> Artifact:
        (found,) = [a for a in self.first.artifacts if a.name == name]
        return found

    def check_report(self, name: str, version: str) -> dict[str, Any]:
        path = self.cache / "logs" / TARGET.id / f"{name}-{version}.check.json"
        report: dict[str, Any] = json.loads(path.read_text())
        return report


def build_twice(
    shared: SetBuilder, plan: TargetPlan, cache: Path, modes: BuildModes | None = None
) -> CrossRun:
    # auto: cross first, QEMU when that fails
    twice = shared.build_twice(plan, TCFG, cache, modes or BuildModes())
    return CrossRun(
        twice.first, twice.second, twice.buildx_runs, twice.seconds, twice.events, cache
    )


def knowledge_packages() -> SystemPackagesFor:
    """Each build's system packages from the packaged knowledge file (psycopg2's
    libpq-dev), as the CLI's planner gets them."""
    knowledge = load_knowledge()
    return lambda name, _target: knowledge.build_packages(name, "apt")


@pytest.fixture(scope="module")
def qemu(shared_builds: SetBuilder) -> BuiltSet:
    """test_build.py's arm64 build under QEMU (made once per session)."""
    return shared_builds("arm64", "emulate")


@pytest.fixture(scope="module")
def cross(shared_builds: SetBuilder, tmp_path_factory: pytest.TempPathFactory) -> CrossRun:
    plan = shared_builds.plan(TARGET, PINS, knowledge_packages())
    assert {p.name: p.action for p in plan.packages} == {
        **dict.fromkeys(CROSS_BUILT, "build"),
        "pycparser": "download",
    }
    return build_twice(shared_builds, plan, tmp_path_factory.mktemp("cross"))


@pytest.fixture(scope="module")
def qemu_more(shared_builds: SetBuilder, tmp_path_factory: pytest.TempPathFactory) -> CrossRun:
    """psutil, netifaces and psycopg2 under QEMU, to compare with their cross builds."""
    plan = shared_builds.plan(TARGET, QEMU_ONLY_HERE, knowledge_packages())
    cache = tmp_path_factory.mktemp("qemu-more")
    return build_twice(shared_builds, plan, cache, BuildModes(override="emulate"))


@pytest.fixture(scope="module")
def fallback(shared_builds: SetBuilder, tmp_path_factory: pytest.TempPathFactory) -> CrossRun:
    cache = tmp_path_factory.mktemp("cross-fallback")
    plan = TargetPlan(target=TARGET, packages=(scanint_sdist(FileStore(cache / "files")),))
    return build_twice(shared_builds, plan, cache)


# --- the cross builds -----------------------------------------------------------------------------


def test_every_package_was_cross_built_and_checked_in_one_run(cross: CrossRun) -> None:
    assert cross.first.failures == (), [f.reason + "\n" + f.log_tail for f in cross.first.failures]
    built = [a for a in cross.first.artifacts if a.origin == "built"]
    assert sorted(a.name for a in built) == list(CROSS_BUILT)
    assert {(a.build_mode, a.fallback_reason) for a in built} == {("cross", None)}
    assert all(a.check_seconds is not None for a in built)
    assert cross.buildx_runs[0] == 1
    checks = {e.package: e.message for e in cross.events if e.kind == "check"}
    assert set(checks) == set(CROSS_BUILT)
    assert all(m.startswith("passed") for m in checks.values()), checks
    print(
        f"\ncross: first build {cross.seconds:.1f}s (buildx {cross.first.build_seconds:.1f}s); "
        + ", ".join(
            f"{a.name} {a.build_seconds:.1f}s + check {a.check_seconds:.1f}s" for a in built
        )
    )


def test_a_second_build_takes_the_cross_built_wheels_from_the_cache(cross: CrossRun) -> None:
    assert cross.buildx_runs[1] == 0
    built = [a for a in cross.second.artifacts if a.origin == "built"]
    assert {(a.cached, a.build_mode) for a in built} == {(True, "cross")}


def elf_machines(wheel: Path) -> set[int]:
    found = set()
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            head = archive.read(name)[:20]
            if head[:4] == b"\x7fELF":
                found.add(int.from_bytes(head[18:20], "little"))
    return found


def test_every_elf_object_is_for_arm64(cross: CrossRun) -> None:
    for name in ("cffi", "crcmod", "psutil", "netifaces", "psycopg2"):
        assert elf_machines(cross.artifact(name).path) == {0xB7}, name
    assert elf_machines(cross.artifact("docopt").path) == set()


def test_the_check_reports_each_objects_symbols(cross: CrossRun) -> None:
    report = cross.check_report("cffi", "1.17.1")
    backend = report["objects"]["_cffi_backend.cpython-311-aarch64-linux-gnu.so"]
    assert "PyLong_FromLong" in backend["undefined"]
    assert backend["unresolved"] == []
    assert any(lib.startswith("libffi-") for lib in backend["needed"])
    assert report["imports"] == {"_cffi_backend": "ok", "cffi": "ok"}
    assert set(report["loads"].values()) == {"ok"}


# --- cross against QEMU ---------------------------------------------------------------------------


def test_cross_and_qemu_wheels_have_the_same_names_files_and_undefined_symbols(
    cross: CrossRun, qemu: BuiltSet, qemu_more: CrossRun, wheel_reader: WheelReader
) -> None:
    emulated = {n: qemu.built(n) for n in ("cffi", "crcmod", "docopt")}
    emulated |= {n: qemu_more.artifact(n).path for n in QEMU_MORE}
    assert sorted(emulated) == sorted(COMPARED)
    assert {qemu_more.artifact(n).build_mode for n in QEMU_MORE} == {"emulate"}
    pairs = [(cross.artifact(n).path, emulated[n]) for n in COMPARED]
    wheel_reader.assert_same_builds(pairs, cross.cache)
    compiled = [cross.artifact(n).path for n in COMPARED if n != "docopt"]
    symbols = wheel_reader.undefined_symbols(compiled, cross.cache)
    assert sorted(symbols) == sorted(w.name for w in compiled)
    for wheel, objects in symbols.items():
        assert objects, wheel
        assert all(objects.values()), wheel  # every object needs something


# --- the fallback to QEMU -------------------------------------------------------------------------


def test_a_wheel_failing_its_check_is_built_under_qemu_and_says_why(fallback: CrossRun) -> None:
    assert fallback.first.failures == (), [f.reason for f in fallback.first.failures]
    artifact = fallback.artifact("scanint")
    assert artifact.build_mode == "emulate"
    assert artifact.fallback_reason is not None
    assert artifact.fallback_reason.startswith(
        "the cross-built wheel failed its check on the target: "
        "undefined symbol(s) in scanint.cpython-311-aarch64-linux-gnu.so: __isoc23_sscanf"
    )
    assert fallback.buildx_runs == (2, 0)  # cross + check, then QEMU; then the cache
    kinds = [(e.kind, e.package) for e in fallback.events]
    assert ("fallback", "scanint") in kinds
    report = fallback.check_report("scanint", "1.0")
    (only,) = report["objects"].values()
    assert only["unresolved"] == ["__isoc23_sscanf"]
    assert report["loads"]["scanint.cpython-311-aarch64-linux-gnu.so"].startswith("OSError")
    (again,) = fallback.second.artifacts
    assert (again.cached, again.build_mode) == (True, "emulate")
    assert again.fallback_reason == artifact.fallback_reason
    print(f"\nfallback: {fallback.seconds:.1f}s for the cross build, its check and QEMU")


# --- the wheels on the target ---------------------------------------------------------------------


def test_the_wheels_install_and_import_in_a_clean_arm64_container(
    cross: CrossRun, fallback: CrossRun, tmp_path: Path
) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    for artifact in [*cross.first.artifacts, *fallback.first.artifacts]:
        (wheels / artifact.path.name).write_bytes(artifact.path.read_bytes())
    names = " ".join([*CROSS_BUILT, "scanint"])
    # The image's own pip fills a pip-less venv (--python): ensurepip under QEMU costs ~40 s.
    script = (
        "python3 -m venv --without-pip /tmp/v && python3 -m pip --python /tmp/v/bin/python "
        f"install -q --no-compile --no-index --find-links /wheels {names} "
        '&& /tmp/v/bin/python -c "$CHECK"'
    )
    args = ["docker", "run", "--rm", "--network=none", "--platform", "linux/arm64"]
    args += ["-v", f"{wheels}:/wheels:ro", "-e", f"CHECK={IMPORT_CHECK}", ARM64_IMAGE]
    args += ["sh", "-c", script]
    done = subprocess.run(args, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().splitlines()[-1] == "ok aarch64"
