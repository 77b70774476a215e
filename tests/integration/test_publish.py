"""``wheelhouse publish`` against the loopback registry, then the runtime stage that mounts it.

The commands a user runs, for the host (amd64) target only, so nothing runs under QEMU:
``wheelhouse build`` of a target named by the multi-platform base tag
(``127.0.0.1:5000/wheelhouse-test/python:3.11-bookworm``, as ``python:3.12-slim`` would be
named), ``wheelhouse publish --image`` to a repository of its own, then the printed
``wheelhouse dockerfile --from-image`` stage built FROM that same multi-platform tag,
offline, run, and searched for wheel files. The registry is scripts/start-registry.sh's
(started by ``make setup``). About 45 s on a quiet machine, most of it the runtime stage.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.engine, pytest.mark.network]

WHEELHOUSE_CLI = Path(sys.executable).with_name("wheelhouse")
REGISTRY = "127.0.0.1:5000"
BASE_TAG = f"{REGISTRY}/wheelhouse-test/python:3.11-bookworm"
TARGET = "cp311-manylinux_2_36_x86_64"
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
    )
    env = {**os.environ, "WHEELHOUSE_CACHE_DIR": str(root / "cache")}
    built = wheelhouse("build", cwd=root, env=env)
    assert built.returncode == 0, built.stderr
    return root, env


def test_a_published_wheelhouse_installs_offline_from_the_multi_platform_base(
    project: tuple[Path, dict[str, str]],
) -> None:
    root, env = project
    ref = f"{REGISTRY}/wheelhouse-test-publish/run{os.getpid()}-{time.time_ns()}:nightly"
    published = wheelhouse("publish", "--image", ref, "--json", cwd=root, env=env)
    assert published.returncode == 0, published.stderr
    (tag,) = json.loads(published.stdout)["tags"]
    assert (tag["tag"], tag["platforms"]) == (ref, ["linux/amd64"])
    assert f"[{TARGET}] pushing 3 wheels" in published.stderr  # progress, on stderr

    inspected = subprocess.run(
        ["docker", "buildx", "imagetools", "inspect", "--raw", ref],
        capture_output=True,
        text=True,
        check=True,
    )
    (manifest,) = json.loads(inspected.stdout)["manifests"]
    assert manifest["digest"] == tag["targets"][TARGET]
    assert manifest["platform"] == {"architecture": "amd64", "os": "linux"}

    app = root / "app"
    app.mkdir()
    dockerfile = wheelhouse(
        *("dockerfile", "--target", TARGET, "--from-image", ref, "--cmd", f"python -c '{IMPORTS}'"),
        cwd=root,
        env=env,
    )
    assert dockerfile.returncode == 0, dockerfile.stderr
    assert f"FROM {BASE_TAG} AS runtime" in dockerfile.stdout
    (app / "Dockerfile").write_text(dockerfile.stdout)
    image = f"wheelhouse-test/publish-runtime:{os.getpid()}"
    try:
        subprocess.run(
            [
                *("docker", "buildx", "build", "--platform", "linux/amd64"),
                *("--network", "none", "--load", "-t", image, str(app)),
            ],
            check=True,
            capture_output=True,
        )
        ran = subprocess.run(
            ["docker", "run", "--rm", "--network", "none", image],
            capture_output=True,
            text=True,
            check=True,
        )
        assert ran.stdout.strip() == "2.1.5"
        found = subprocess.run(
            [
                *("docker", "run", "--rm", "--network", "none", "--user", "0", image),
                *("find", "/", "-xdev", "(", "-name", "*.whl", "-o", "-path", "/wheels", ")"),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        wheels = {p.name for p in (root / "wheelhouse" / TARGET).glob("*.whl")}
        assert len(wheels) == 3
        left = [line for line in found.stdout.splitlines() if Path(line).name in wheels]
        assert left == []
        assert "/wheels" not in found.stdout.splitlines()
    finally:
        subprocess.run(["docker", "image", "rm", "-f", image], capture_output=True, check=False)
