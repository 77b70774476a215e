"""Build recipes for real: a patch, an env value, a config setting and a before_build step
on a real sdist (docopt 0.6.2 from PyPI), built natively for Debian amd64
(wheelhouse-test/python:3.11-bookworm-amd64, no QEMU), verified with `test` commands.

The patch adds two modules, a Makefile and a C++ program to docopt; before_build runs
make, which compiles the program with g++ and writes the env value into a module (so
the default apt toolchain's make, g++ and patch are proven too). Run 1 builds docopt
with its recipe and crcmod (a C extension) without one, and verifies both with a
`test`. Run 2 (build --verify again) changes docopt's env: docopt alone is built again
(crcmod comes from the build cache), and crcmod's `test` now fails: verify reports that
package with the test's output and the new wheelhouse is not published.

The target's toolchain is test_build.py's amd64 one (python3-dev, libffi-dev), so
BuildKit builds that stage once for both.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from pathlib import Path

import pytest

from orchestrator.errors import VerifyFailedError
from orchestrator.model import Artifact
from orchestrator.pipeline import BuildOptions, BuildRun, run_build
from orchestrator.session import Session
from orchestrator.targets import Target
from tests.integration.progress import Progress

pytestmark = [pytest.mark.network, pytest.mark.engine]

TARGET = Target.parse("cp311-manylinux_2_36_x86_64")
PATCH = Path(__file__).resolve().parents[1] / "data" / "recipes" / "docopt-modules.patch"
PROGRESS = Progress()

CONFIG = """\
requirements: requirements.txt
output: wheelhouse
targets:
  - id: cp311-manylinux_2_36_x86_64
    base_image: wheelhouse-test/python:3.11-bookworm-amd64
    system_packages: [python3-dev, libffi-dev]
packages:
  docopt:
    env: {{WH_ARCH: "{arch}"}}
    config_settings: {{--build-option: --python-tag=py311}}
    patches: [docopt-modules.patch]
    before_build: make && test -x gen
    imports: [docopt, docopt_patched, docopt_built]
    test: python -c "import docopt_built, docopt_patched; print('arch', docopt_built.ARCH)"
  crcmod:
    imports: [crcmod, crcmod._crcfunext]
    test: {crcmod_test}
"""
CRCMOD_OK = (
    """python -c "import crcmod.predefined as p; """
    """assert p.mkCrcFun('crc-32')(b'123456789') == 0xCBF43926" """
)
CRCMOD_FAILS = """python -c "print('crcmod says no'); raise SystemExit(3)" """


def _session(root: Path, cache: Path, **values: str) -> Session:
    (root / "wheelhouse.yaml").write_text(CONFIG.format(**values), encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WHEELHOUSE_CACHE_DIR", str(cache))
        return Session.open(root / "wheelhouse.yaml", None, [TARGET.id], [])


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("recipes")
    (root / "requirements.txt").write_text("docopt==0.6.2\ncrcmod==1.7\n", encoding="utf-8")
    shutil.copyfile(PATCH, root / PATCH.name)
    return root


@pytest.fixture(scope="module")
def runs(project: Path) -> tuple[BuildRun, BuildRun]:
    cache = project / "cache"
    first = _session(project, cache, arch="${TARGET_ARCH}", crcmod_test=CRCMOD_OK)
    one = run_build(first, BuildOptions(verify=True), PROGRESS.say, PROGRESS.event)
    assert one.problem() is None, one.problem()
    # build --verify: the failing test keeps the new wheelhouse from being published.
    second = _session(project, cache, arch="${TARGET_ARCH}-again", crcmod_test=CRCMOD_FAILS)
    two = run_build(second, BuildOptions(verify=True), PROGRESS.say, PROGRESS.event)
    assert isinstance(two.problem(), VerifyFailedError), two.problem()
    return one, two


def _artifacts(run: BuildRun) -> dict[str, Artifact]:
    (build,) = run.builds
    return {str(a.name): a for a in build.artifacts}


def test_the_recipe_reaches_the_built_wheel(runs: tuple[BuildRun, BuildRun]) -> None:
    one, _ = runs
    docopt = _artifacts(one)["docopt"]
    assert (docopt.build_mode, docopt.cached) == ("native", False)
    # The config setting reached setuptools' bdist_wheel (--python-tag), once the patch
    # dropped setup.cfg's universal = 1.
    assert docopt.path.name == "docopt-0.6.2-py311-none-any.whl"
    with zipfile.ZipFile(docopt.path) as archive:
        assert "added by a wheelhouse recipe patch" in archive.read("docopt_patched.py").decode()
        # before_build ran make, which built the patch's C++ program with g++; the
        # program wrote the env value, ${TARGET_ARCH} replaced for the target.
        assert archive.read("docopt_built.py").decode() == 'ARCH = "x86_64"\n'


def test_the_manifest_records_the_recipe_each_wheel_was_built_with(
    runs: tuple[BuildRun, BuildRun],
) -> None:
    one, _ = runs
    (result,) = one.wheelhouses.values()
    manifest = json.loads((result.path / "manifest.json").read_text(encoding="utf-8"))
    wheels = {w["name"]: w for w in manifest["wheels"]}
    assert "recipe" not in wheels["crcmod"]
    assert wheels["docopt"]["recipe"] == {
        "env": ["WH_ARCH"],
        "config_settings": {"--build-option": "--python-tag=py311"},
        "patches": [
            {
                "file": "docopt-modules.patch",
                "sha256": hashlib.sha256(PATCH.read_bytes()).hexdigest(),
            }
        ],
        "before_build": "make && test -x gen",
    }


def test_verify_runs_the_recipes_imports_and_tests(
    runs: tuple[BuildRun, BuildRun],
) -> None:
    one, _ = runs
    (report,) = one.verified
    assert report.ok, report
    by_name = {p.name: p for p in report.packages}
    assert set(by_name["docopt"].imports) == {"docopt", "docopt_patched", "docopt_built"}
    assert set(by_name["crcmod"].imports) == {"crcmod", "crcmod._crcfunext"}
    assert by_name["docopt"].test_returncode == 0
    assert "arch x86_64" in by_name["docopt"].test_output
    assert by_name["crcmod"].test_returncode == 0


def test_a_changed_recipe_rebuilds_that_package_only(
    runs: tuple[BuildRun, BuildRun],
) -> None:
    one, two = runs
    before, after = _artifacts(one), _artifacts(two)
    assert after["crcmod"].cached
    assert after["crcmod"].path.read_bytes() == before["crcmod"].path.read_bytes()
    assert not after["docopt"].cached
    with zipfile.ZipFile(after["docopt"].path) as archive:
        assert archive.read("docopt_built.py").decode() == 'ARCH = "x86_64-again"\n'


def test_a_failing_test_fails_verify_with_its_output(runs: tuple[BuildRun, BuildRun]) -> None:
    _, two = runs
    (report,) = two.verified
    assert not report.ok
    (failed,) = report.failed
    assert failed.name == "crcmod"
    assert failed.test_returncode == 3
    assert "crcmod says no" in failed.test_output
    docopt = next(p for p in report.packages if p.name == "docopt")
    assert docopt.ok and "arch x86_64-again" in docopt.test_output
    with pytest.raises(VerifyFailedError, match="crcmod says no"):
        report.raise_for_failure()
    assert TARGET.id in two.unpublished and not two.wheelhouses
