"""collect + verify with real PyPI wheels, real pip and a real engine (``network``, ``engine``).

The runtime images are the local ones scripts/build-test-images.sh builds (Debian bookworm,
Python 3.11, pip, venv): no registry is needed. The engine and the images may still be coming
up when these tests start, so the image fixture waits for them.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import docker  # type: ignore[import-untyped]
import docker.errors  # type: ignore[import-untyped]
import pytest
from packaging.utils import canonicalize_name, parse_wheel_filename

from orchestrator.config import TargetConfig
from orchestrator.errors import VerifyFailedError
from orchestrator.model import Artifact, TargetBuild
from orchestrator.targets import Arch, Target
from orchestrator.wheelhouse.collect import collect_wheelhouse
from orchestrator.wheelhouse.runtime import render_dockerignore, render_runtime_dockerfile
from orchestrator.wheelhouse.verify import verify_wheelhouse
from tests.wheelfiles import write_wheel

pytestmark = pytest.mark.network

ARM64 = Target.parse("cp311-manylinux_2_36_aarch64")
AMD64 = Target.parse("cp311-manylinux_2_36_x86_64")
IMAGES = {
    Arch.AARCH64: "wheelhouse-test/python:3.11-bookworm-arm64",
    Arch.X86_64: "wheelhouse-test/python:3.11-bookworm-amd64",
}
#: A pure package, one with a C extension, and one that depends on the first.
PACKAGES = ("six==1.17.0", "markupsafe==2.1.5", "python-dateutil==2.9.0.post0")
MISSING_WHEEL = "a wheel for this target is missing from the wheelhouse: run `wheelhouse build`"
#: How long to wait for the engine and the test images (scripts/build-test-images.sh).
IMAGE_WAIT_SECONDS = float(os.environ.get("WHEELHOUSE_TEST_IMAGE_WAIT", "1200"))


# --- inputs --------------------------------------------------------------------------------------


def pip_download(dest: Path, target: Target) -> list[Path]:
    """Wheels for ``target`` from the real index, downloaded on the host."""
    plat = f"manylinux_2_17_{target.arch.value}"
    legacy = f"manylinux2014_{target.arch.value}"
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"),
            *("--only-binary", ":all:", "--platform", plat, "--platform", legacy),
            *("--python-version", "3.11", "--implementation", "cp", "--abi", "cp311"),
            *("-d", str(dest), *PACKAGES),
        ],
        check=True,
    )
    return sorted(dest.glob("*.whl"))


def artifacts(wheels: Sequence[Path], *, leave_out: Sequence[str] = ()) -> tuple[Artifact, ...]:
    result = []
    for path in wheels:
        name, version, _build, _tags = parse_wheel_filename(path.name)
        if name in leave_out:
            continue
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        result.append(
            Artifact(name=name, version=str(version), path=path, sha256=sha, origin="pypi")
        )
    return tuple(result)


@pytest.fixture(scope="module")
def arm64_wheels(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return pip_download(tmp_path_factory.mktemp("arm64-wheels"), ARM64)


@pytest.fixture(scope="module")
def host_target() -> Target:
    arch = Arch.parse(platform.machine())
    if sys.version_info[:2] != (3, 11) or arch not in IMAGES:
        pytest.skip("the host tests install cp311 wheels into this interpreter's venvs")
    return ARM64 if arch is Arch.AARCH64 else AMD64


@pytest.fixture(scope="module")
def host_wheels(tmp_path_factory: pytest.TempPathFactory, host_target: Target) -> list[Path]:
    return pip_download(tmp_path_factory.mktemp("host-wheels"), host_target)


# --- the engine and its images -------------------------------------------------------------------


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    deadline = time.monotonic() + IMAGE_WAIT_SECONDS
    while True:
        try:
            engine = docker.from_env()
            engine.ping()
            break
        except docker.errors.DockerException:
            if time.monotonic() > deadline:
                pytest.fail("no Docker engine answered: run scripts/bootstrap-engine.sh")
            time.sleep(5)
    yield engine
    engine.close()


def wait_for_image(engine: Any, image: str) -> str:
    deadline = time.monotonic() + IMAGE_WAIT_SECONDS
    while True:
        try:
            engine.images.get(image)
            return image
        except docker.errors.ImageNotFound:
            if time.monotonic() > deadline:
                pytest.fail(f"{image} did not appear: run scripts/build-test-images.sh")
            time.sleep(5)


def runtime(target: Target, image: str) -> TargetConfig:
    return TargetConfig(target=target, base_image=image, runtime_image=image, package_manager="apt")


def verify_containers(engine: Any, wheelhouse: Path) -> list[Any]:
    """Verify containers of ``wheelhouse`` left on the engine (other runs' are not counted)."""
    labels = ["org.wheelhouse.role=verify", f"org.wheelhouse.wheelhouse={wheelhouse.resolve()}"]
    return list(engine.containers.list(all=True, filters={"label": labels}))


# --- host pip against the collected wheelhouse ----------------------------------------------------


def host_pip(venv: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The venv's pip with no configuration of this machine: no index but the ones given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env |= {"PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    return subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", *args, "--no-cache-dir"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def fresh_venv(path: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    return path


def imports_ok(venv: Path, *modules: str) -> None:
    code = f"import {', '.join(modules)}"
    subprocess.run([str(venv / "bin" / "python"), "-c", code], check=True)


def test_the_index_installs_with_index_url_alone(
    tmp_path: Path, host_target: Target, host_wheels: list[Path]
) -> None:
    result = collect_wheelhouse(
        TargetBuild(target=host_target, artifacts=artifacts(host_wheels)), tmp_path / "wh"
    )
    venv = fresh_venv(tmp_path / "venv")

    done = host_pip(
        venv,
        "install",
        "--index-url",
        (result.path.absolute() / "simple").as_uri(),
        "python-dateutil",
        "markupsafe",
    )

    assert done.returncode == 0, done.stdout + done.stderr
    imports_ok(venv, "dateutil", "markupsafe", "six")


def test_the_previous_wheelhouse_still_installs_after_a_crashed_collect(
    tmp_path: Path,
    host_target: Target,
    host_wheels: list[Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "wh"
    collect_wheelhouse(TargetBuild(target=host_target, artifacts=artifacts(host_wheels)), out)

    def killed(*args: object) -> None:
        raise KeyboardInterrupt("killed between the new tree and the switch")

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        collect_wheelhouse(
            TargetBuild(target=host_target, artifacts=artifacts(host_wheels, leave_out=["six"])),
            out,
        )
    monkeypatch.undo()
    wheelhouse = out / host_target.id
    venv = fresh_venv(tmp_path / "venv")

    done = host_pip(
        venv,
        "install",
        "--no-index",
        "--find-links",
        str(wheelhouse),
        "--require-hashes",
        "-r",
        str(wheelhouse / "requirements.txt"),
    )

    assert done.returncode == 0, done.stdout + done.stderr
    imports_ok(venv, "dateutil", "markupsafe", "six")


# --- verify in a clean container -----------------------------------------------------------------


@pytest.mark.engine
def test_verify_passes_in_a_clean_arm64_container(
    tmp_path: Path, client: Any, arm64_wheels: list[Path]
) -> None:
    image = wait_for_image(client, IMAGES[Arch.AARCH64])
    result = collect_wheelhouse(
        TargetBuild(target=ARM64, artifacts=artifacts(arm64_wheels)), tmp_path / "wh"
    )

    report = verify_wheelhouse(result.path, runtime(ARM64, image), docker_client=client)

    assert report.ok, report
    assert {p.name: dict(p.imports) for p in report.packages} == {
        "markupsafe": {"markupsafe": "ok"},
        "python-dateutil": {"dateutil": "ok"},
        "six": {"six": "ok"},
    }
    assert "Successfully installed" in report.install_log_tail
    assert verify_containers(client, result.path) == []


@pytest.mark.engine
def test_verify_names_a_dependency_missing_from_the_wheelhouse(
    tmp_path: Path, client: Any, arm64_wheels: list[Path]
) -> None:
    image = wait_for_image(client, IMAGES[Arch.AARCH64])
    result = collect_wheelhouse(
        TargetBuild(target=ARM64, artifacts=artifacts(arm64_wheels, leave_out=["six"])),
        tmp_path / "wh",
    )

    report = verify_wheelhouse(result.path, runtime(ARM64, image), docker_client=client)

    assert not report.ok
    six = {p.name: p for p in report.packages}["six"]
    assert not six.installed
    assert six.error is not None
    assert "six" in six.error
    assert six.hints == (MISSING_WHEEL,)
    with pytest.raises(VerifyFailedError, match="six not installed"):
        report.raise_for_failure()
    assert verify_containers(client, result.path) == []


@pytest.mark.engine
def test_verify_isolates_each_import_and_suggests_fixes(tmp_path: Path, client: Any) -> None:
    # Native architecture: this is about the script's isolation, not about QEMU.
    target = AMD64 if Arch.parse(platform.machine()) is Arch.X86_64 else ARM64
    image = wait_for_image(client, IMAGES[target.arch])
    # a wheel of our own: PyPI offers no such failures on demand
    broken = write_wheel(
        tmp_path / "wheels",
        "brokenlib",
        "1.0",
        {
            "brokenlib/__init__.py": "import ctypes\nctypes.CDLL('libpq.so.5')\n",
            "brokencrash/__init__.py": "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n",
            "brokenfine.py": "VALUE = 1\n",
        },
    )
    result = collect_wheelhouse(
        TargetBuild(target=target, artifacts=artifacts([broken])), tmp_path / "wh"
    )

    report = verify_wheelhouse(result.path, runtime(target, image), docker_client=client)

    assert not report.ok
    (package,) = report.packages
    assert package.name == canonicalize_name("brokenlib")
    assert dict(package.imports) == {
        "brokencrash": "Crashed: killed by SIGSEGV",
        "brokenfine": "ok",
        "brokenlib": "OSError: libpq.so.5: cannot open shared object file: "
        "No such file or directory",
    }
    assert package.hints == (
        "the runtime image lacks libpq.so.5: install it in the runtime stage "
        "(apt: libpq5 / apk: libpq) or let auditwheel vendor it",
    )


@pytest.mark.engine
def test_the_runtime_dockerfile_builds_and_runs_unprivileged(
    tmp_path: Path, client: Any, host_target: Target, host_wheels: list[Path]
) -> None:
    image = wait_for_image(client, IMAGES[host_target.arch])
    context = tmp_path / "app"
    collect_wheelhouse(
        TargetBuild(target=host_target, artifacts=artifacts(host_wheels)), context / "wheelhouse"
    )
    (context / ".dockerignore").write_text(render_dockerignore())
    dockerfile = render_runtime_dockerfile(
        runtime(host_target, image),
        f"wheelhouse/{host_target.id}",
        app_hint="python -c 'import dateutil, markupsafe, os; print(os.getuid())'",
    )
    (context / "Dockerfile").write_text(dockerfile)
    tag = f"wheelhouse-test/runtime-stage:{os.getpid()}"
    try:
        subprocess.run(
            ["docker", "buildx", "build", "--network", "none", "--load", "-t", tag, str(context)],
            check=True,
            capture_output=True,
        )
        output = client.containers.run(tag, remove=True, network_mode="none")
        assert output.decode().strip() == "10001"
    finally:
        with contextlib.suppress(docker.errors.ImageNotFound):
            client.images.remove(tag, force=True)
