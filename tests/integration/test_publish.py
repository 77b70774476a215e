"""The nightly workflow's commands against the loopback registry, then the runtime stage.

examples/ci/wheelhouse-nightly.yml's ``build`` and ``publish`` steps run as written
there: ``wheelhouse build --verify --json`` (with the step summary) of an arm64 and an
amd64 target both named by the multi-platform base tag
(``127.0.0.1:5000/wheelhouse-test/python:3.11-bookworm``, as ``python:3.12-slim`` would
be named; download-only, so QEMU runs only the arm64 image's Python probe and verify),
then ``wheelhouse publish --image "$WHEELHOUSE_IMAGE" --json`` of both under one tag of
a repository of its own. Then the printed ``wheelhouse dockerfile --from-image`` stage,
one file for both targets, is built for linux/amd64 and linux/arm64 (the arm64 one under
QEMU: a venv and pip install of three wheels) FROM that same multi-platform tag, offline,
each run (the app's imports, the platform's machine) and searched for wheel files. The registry is
scripts/start-registry.sh's (started by ``make setup``).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.integration.cli import WHEELHOUSE_CLI

pytestmark = [pytest.mark.engine, pytest.mark.network]

WORKFLOW = Path(__file__).resolve().parents[2] / "examples" / "ci" / "wheelhouse-nightly.yml"
REGISTRY = "127.0.0.1:5000"
BASE_TAG = f"{REGISTRY}/wheelhouse-test/python:3.11-bookworm"
TARGET = "cp311-manylinux_2_36_x86_64"
#: Named by the same multi-platform tag, without cross_image: the engine pins each
#: platform's manifest (the classic image store holds one platform per tag).
ARM_TARGET = "cp311-manylinux_2_36_aarch64"
#: A pure package, one with a C extension, and one that depends on the first.
REQUIREMENTS = "six==1.17.0\nmarkupsafe==2.1.5\npython-dateutil==2.9.0.post0\n"
IMPORTS = "import dateutil, markupsafe, six; print(markupsafe.__version__)"


def registry_up() -> None:
    try:
        with urllib.request.urlopen(f"http://{REGISTRY}/v2/", timeout=5) as answer:
            assert answer.status == 200
    except OSError as exc:
        pytest.fail(f"no registry at {REGISTRY} ({exc}): run scripts/start-registry.sh")


def wheelhouse(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(WHEELHOUSE_CLI), *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )


def workflow_step(step_id: str) -> str:
    """The ``run:`` of the nightly workflow's step ``step_id``, as written there."""
    steps = yaml.safe_load(WORKFLOW.read_text())["jobs"]["wheelhouse"]["steps"]
    (step,) = [s for s in steps if s.get("id") == step_id]
    return str(step["run"])


def run_step(step_id: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The step's command with bash -e, as GitHub runs a ``run:`` (the venv's CLI first)."""
    path = f"{WHEELHOUSE_CLI.parent}{os.pathsep}{env['PATH']}"
    return subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", workflow_step(step_id)],
        cwd=cwd,
        env={**env, "PATH": path},
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    if os.uname().machine != "x86_64":
        pytest.skip("the published runtime stage is built for the amd64 host only")
    registry_up()
    root = tmp_path_factory.mktemp("publish")
    (root / "requirements.txt").write_text(REQUIREMENTS)
    (root / "wheelhouse.yaml").write_text(
        "requirements: requirements.txt\noutput: wheelhouse\ntargets:\n"
        f"  - id: {TARGET}\n    base_image: {BASE_TAG}\n"
        f"  - id: {ARM_TARGET}\n    base_image: {BASE_TAG}\n"
    )
    env = {
        **os.environ,
        "WHEELHOUSE_CACHE_DIR": str(root / "cache"),
        "GITHUB_STEP_SUMMARY": str(root / "summary.md"),
    }
    built = run_step("build", root, env)  # wheelhouse build --verify --json > build.json
    assert built.returncode == 0, built.stderr
    # Each target's Python was asked of its own platform's image behind the one tag.
    for target in (TARGET, ARM_TARGET):
        assert f"[{target}] Python 3.11.2, glibc 2.36 in {BASE_TAG}" in built.stderr
    report = json.loads((root / "build.json").read_text())
    assert report["ok"] is True
    assert report["verify"]["ok"] is True
    summary = (root / "summary.md").read_text()
    assert "## wheelhouse build" in summary
    assert "## wheelhouse verify" in summary
    return root, env


def test_the_nightly_workflow_keeps_its_cache_directory() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    cache_dir = workflow["env"]["WHEELHOUSE_CACHE_DIR"]
    steps = workflow["jobs"]["wheelhouse"]["steps"]
    (cache,) = [s for s in steps if str(s.get("uses", "")).startswith("actions/cache@")]
    assert cache["with"]["path"] == cache_dir
    assert "${{ github.run_id }}" in cache["with"]["key"]  # saved every night
    assert cache["with"]["restore-keys"]  # ... and last night's restored
    # The only other commands it runs: installing wheelhouse.
    runs = [s["run"] for s in steps if "run" in s and s.get("id") not in ("build", "publish")]
    assert [r.split("#")[0].strip() for r in runs] == ["pip install wheelhouse"]


def test_a_published_wheelhouse_installs_offline_from_the_multi_platform_base(
    project: tuple[Path, dict[str, str]],
) -> None:
    root, env = project
    ref = f"{REGISTRY}/wheelhouse-test-publish/run{os.getpid()}-{time.time_ns()}:nightly"
    # wheelhouse publish --image "$WHEELHOUSE_IMAGE" --json > publish.json
    published = run_step("publish", root, {**env, "WHEELHOUSE_IMAGE": ref})
    assert published.returncode == 0, published.stderr
    (tag,) = json.loads((root / "publish.json").read_text())["tags"]
    assert (tag["tag"], sorted(tag["platforms"])) == (ref, ["linux/amd64", "linux/arm64"])
    assert f"[{TARGET}] pushing 3 wheels" in published.stderr  # progress, on stderr

    inspected = subprocess.run(
        ["docker", "buildx", "imagetools", "inspect", "--raw", ref],
        capture_output=True,
        text=True,
        check=True,
    )
    manifests = {
        m["platform"]["architecture"]: m for m in json.loads(inspected.stdout)["manifests"]
    }
    assert manifests.keys() == {"amd64", "arm64"}
    assert manifests["amd64"]["digest"] == tag["targets"][TARGET]
    assert manifests["arm64"]["digest"] == tag["targets"][ARM_TARGET]

    # One printed Dockerfile serves both platforms: the two targets' differ only in the
    # comment that names the target (the base and the wheels come from the tags).
    dockerfiles = {}
    for target in (TARGET, ARM_TARGET):
        printed = wheelhouse(
            *("dockerfile", "--target", target, "--from-image", ref),
            *("--cmd", f"python -c '{IMPORTS}'"),
            cwd=root,
            env=env,
        )
        assert printed.returncode == 0, printed.stderr
        assert f"FROM {BASE_TAG} AS runtime" in printed.stdout
        dockerfiles[target] = printed.stdout
    assert uncommented(dockerfiles[TARGET]) == uncommented(dockerfiles[ARM_TARGET])
    app = root / "app"
    app.mkdir()
    (app / "Dockerfile").write_text(dockerfiles[TARGET])
    for target, platform in ((TARGET, "linux/amd64"), (ARM_TARGET, "linux/arm64")):
        runtime_image_runs_without_wheels(app, platform, root / "wheelhouse" / target)


def uncommented(dockerfile: str) -> list[str]:
    return [line for line in dockerfile.splitlines() if not line.startswith("#")]


def runtime_image_runs_without_wheels(app: Path, platform: str, wheelhouse_dir: Path) -> None:
    """Build the runtime stage for ``platform`` offline, run the app's imports in it, and
    search it for the wheelhouse's wheel files (and the mount point's contents)."""
    image = f"wheelhouse-test/publish-runtime:{os.getpid()}-{platform.replace('/', '-')}"
    try:
        subprocess.run(
            [
                *("docker", "buildx", "build", "--platform", platform),
                *("--network", "none", "--load", "-t", image, str(app)),
            ],
            check=True,
            capture_output=True,
        )
        ran = subprocess.run(
            ["docker", "run", "--rm", "--network", "none", "--platform", platform, image],
            capture_output=True,
            text=True,
            check=True,
        )
        assert ran.stdout.strip() == "2.1.5"
        machine = subprocess.run(
            [
                *("docker", "run", "--rm", "--network", "none", "--platform", platform),
                *(image, "python", "-c", "import platform; print(platform.machine())"),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        assert (
            machine.stdout.strip() == {"linux/amd64": "x86_64", "linux/arm64": "aarch64"}[platform]
        )
        found = subprocess.run(
            [
                *("docker", "run", "--rm", "--network", "none", "--platform", platform),
                *("--user", "0", image),
                *("find", "/", "-xdev", "(", "-name", "*.whl", "-o", "-path", "/wheels", ")"),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        wheels = {p.name for p in wheelhouse_dir.glob("*.whl")}
        assert len(wheels) == 3
        left = [line for line in found.stdout.splitlines() if Path(line).name in wheels]
        assert left == []
        assert "/wheels" not in found.stdout.splitlines()
    finally:
        subprocess.run(["docker", "image", "rm", "-f", image], capture_output=True, check=False)


def test_an_unreachable_registry_exits_8_naming_the_reference(
    project: tuple[Path, dict[str, str]],
) -> None:
    root, env = project
    ref = "127.0.0.1:1/wheelhouse-test-publish/nowhere:nightly"  # nothing listens on port 1
    published = wheelhouse("publish", "--image", ref, cwd=root, env=env)
    assert published.returncode == 8, published.stderr
    assert f"the registry of {ref}" in published.stderr  # the reference ...
    assert "connection refused" in published.stderr  # ... what went wrong ...
    assert "hint: check that 127.0.0.1:1 is up" in published.stderr  # ... and the fix
    assert "Traceback" not in published.stderr
