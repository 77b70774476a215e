"""Build recipes cross-compiled and under QEMU: test_recipes.py's docopt recipe (a patch,
an env value, a config setting, a before_build step running make and g++) and crcmod
with a `test`, built for the Debian arm64 target (wheelhouse-test/python:3.11-bookworm-arm64)
twice on one cache: run 1 cross-compiles both on the amd64 image, run 2 builds both
under QEMU (packages.<name>.build_mode: emulate). Each run is verified in a clean arm64
container with the recipes' imports and `test` commands.

The recipe reaches both builds alike: the same wheel names and files, ${TARGET_ARCH} is
aarch64 in both, crcmod's C extension is aarch64 in both. The cross stage runs
before_build on the build machine (the patch's Makefile calls g++, the build machine's,
and runs the program it made there); the QEMU stage runs it on the emulated target.
"""

from __future__ import annotations

import io
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from orchestrator.model import Artifact
from orchestrator.pipeline import BuildOptions, BuildRun, run_build
from orchestrator.session import Session
from orchestrator.targets import Target
from tests.integration.progress import Progress

pytestmark = [pytest.mark.network, pytest.mark.engine]

TARGET = Target.parse("cp311-manylinux_2_36_aarch64")
PATCH = Path(__file__).resolve().parents[1] / "data" / "recipes" / "docopt-modules.patch"
PROGRESS = Progress()

# The system packages are test_cross.py's, so both use one cross toolchain stage.
CONFIG = """\
requirements: requirements.txt
output: wheelhouse
targets:
  - id: cp311-manylinux_2_36_aarch64
    base_image: wheelhouse-test/python:3.11-bookworm-arm64
    cross_image: wheelhouse-test/python:3.11-bookworm-amd64
    system_packages: [python3-dev, libffi-dev]
    build_mode: cross
packages:
  docopt:
    env: {{WH_ARCH: "${{TARGET_ARCH}}"}}
    config_settings: {{--build-option: --python-tag=py311}}
    patches: [docopt-modules.patch]
    before_build: make && test -x gen
    imports: [docopt, docopt_patched, docopt_built]
    test: >-
      python -c "import docopt_built, platform;
      print('arch', docopt_built.ARCH, platform.machine())"
{docopt_mode}
  crcmod:
    imports: [crcmod, crcmod._crcfunext]
    test: >-
      python -c "import crcmod.predefined as p;
      assert p.mkCrcFun('crc-32')(b'123456789') == 0xCBF43926; print('crc ok')"
{crcmod_mode}
"""
EMULATE = "    build_mode: emulate"


def _run(root: Path, mode: str) -> BuildRun:
    (root / "wheelhouse.yaml").write_text(
        CONFIG.format(docopt_mode=mode, crcmod_mode=mode), encoding="utf-8"
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WHEELHOUSE_CACHE_DIR", str(root / "cache"))
        session = Session.open(root / "wheelhouse.yaml", None, [TARGET.id], [])
    run = run_build(session, BuildOptions(verify=True), PROGRESS.say, PROGRESS.event)
    assert run.problem() is None, run.problem()
    return run


@dataclass(frozen=True)
class Runs:
    cross: BuildRun
    qemu: BuildRun
    #: Run 1's wheels by name, copied before run 2 (their cache files are run 1's own).
    cross_wheels: dict[str, Path]

    def qemu_wheel(self, name: str) -> Path:
        return _artifacts(self.qemu)[name].path


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    root = tmp_path_factory.mktemp("recipes-arm64")
    (root / "requirements.txt").write_text("docopt==0.6.2\ncrcmod==1.7\n", encoding="utf-8")
    shutil.copyfile(PATCH, root / PATCH.name)
    cross = _run(root, "")
    kept = root / "cross-wheels"
    kept.mkdir()
    wheels = {
        name: Path(shutil.copy2(artifact.path, kept / artifact.path.name))
        for name, artifact in _artifacts(cross).items()
    }
    return Runs(cross, _run(root, EMULATE), wheels)


def _artifacts(run: BuildRun) -> dict[str, Artifact]:
    (build,) = run.builds
    return {str(a.name): a for a in build.artifacts}


def _files(wheel: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(wheel) as archive:
        return {
            info.filename: archive.read(info)
            for info in archive.infolist()
            if not info.filename.endswith(".dist-info/RECORD")
        }


def _machine(data: bytes) -> str:
    return str(ELFFile(io.BytesIO(data)).header["e_machine"])


def test_both_wheels_were_built_cross_then_under_qemu(runs: Runs) -> None:
    assert {(a.build_mode, a.cached) for a in _artifacts(runs.cross).values()} == {("cross", False)}
    assert {(a.build_mode, a.cached) for a in _artifacts(runs.qemu).values()} == {
        ("emulate", False)
    }


@pytest.mark.parametrize("name", ["docopt", "crcmod"])
def test_the_cross_and_the_qemu_wheel_have_the_same_name_and_files(runs: Runs, name: str) -> None:
    cross, qemu = runs.cross_wheels[name], runs.qemu_wheel(name)
    assert cross.name == qemu.name
    assert set(_files(cross)) == set(_files(qemu))


@pytest.mark.parametrize("which", ["cross", "qemu"])
def test_the_recipe_reaches_the_wheel(runs: Runs, which: str) -> None:
    wheels = (
        runs.cross_wheels
        if which == "cross"
        else {name: runs.qemu_wheel(name) for name in runs.cross_wheels}
    )
    # The config setting reached setuptools (--python-tag) once the patch dropped
    # setup.cfg's universal = 1; make built the patch's program, which wrote the env value
    # with ${TARGET_ARCH} replaced for the target.
    assert wheels["docopt"].name == "docopt-0.6.2-py311-none-any.whl"
    docopt = _files(wheels["docopt"])
    assert docopt["docopt_built.py"] == b'ARCH = "aarch64"\n'
    assert b"added by a wheelhouse recipe patch" in docopt["docopt_patched.py"]
    extensions = [data for path, data in _files(wheels["crcmod"]).items() if path.endswith(".so")]
    assert extensions and {_machine(data) for data in extensions} == {"EM_AARCH64"}


@pytest.mark.parametrize("which", ["cross", "qemu"])
def test_verify_ran_the_tests_on_the_arm64_target(runs: Runs, which: str) -> None:
    (report,) = (runs.cross if which == "cross" else runs.qemu).verified
    assert report.ok, report
    by_name = {p.name: p for p in report.packages}
    assert by_name["docopt"].test_returncode == 0
    assert "arch aarch64 aarch64" in by_name["docopt"].test_output
    assert by_name["crcmod"].test_returncode == 0
    assert "crc ok" in by_name["crcmod"].test_output
