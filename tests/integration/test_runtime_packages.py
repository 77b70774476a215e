"""A wheel that needs a system library at run time, from the build to the runtime image.

pyalsaaudio 0.11.0 (an sdist only, on PyPI) is a C extension that links libasound. The
knowledge file leaves libasound to the system (``system_libraries: [libasound.so.2]``:
libasound reads its configuration and plugins from the system's own directories), so the
build installs libasound2-dev, ``auditwheel repair --exclude libasound.so.2`` keeps the
library out of the wheel, and the manifest records ``runtime_packages: [libasound2]``.
Built natively for Debian amd64 (wheelhouse-test/python:3.11-bookworm-amd64, which has no
libasound), then:

- the wheel holds no libasound and its extension NEEDs libasound.so.2;
- ``build --verify`` passes: verify installed libasound2 before importing alsaaudio;
- the Dockerfile ``wheelhouse dockerfile`` prints is built with docker and runs
  ``import alsaaudio``; the same file without its install lines builds too, and the import
  fails with the loader's error, which is what the test would catch.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile

from tests.integration.cli import wheelhouse

pytestmark = [pytest.mark.network, pytest.mark.engine]

TARGET_ID = "cp311-manylinux_2_36_x86_64"
BASE = "wheelhouse-test/python:3.11-bookworm-amd64"
CONFIG = f"""\
requirements: requirements.txt
output: wheelhouse
cache_dir: {{cache}}
targets:
  - id: {TARGET_ID}
    base_image: {BASE}
    system_packages: [python3-dev]
"""
IMPORT = "import alsaaudio; print(alsaaudio.__file__)"


@pytest.fixture
def images() -> Iterator[list[str]]:
    """Tags the test builds, removed afterwards."""
    tags: list[str] = []
    yield tags
    if tags:
        subprocess.run(["docker", "rmi", "-f", *tags], capture_output=True, check=False)


def needed(data: bytes) -> list[str]:
    """The DT_NEEDED entries of one ELF object."""
    elf = ELFFile(io.BytesIO(data))
    names: list[str] = []
    for section in elf.iter_sections():
        if isinstance(section, DynamicSection):
            tags = section.iter_tags("DT_NEEDED")
            names += [str(t.needed) for t in tags]  # type: ignore[attr-defined]
    return names


def docker_build(context: Path, dockerfile: str, tag: str) -> subprocess.CompletedProcess[str]:
    (context / "Dockerfile").write_text(dockerfile)
    return subprocess.run(
        ["docker", "buildx", "build", "--platform", "linux/amd64", "--load", "-t", tag, "."],
        cwd=context,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def docker_run(tag: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", "run", "--rm", "--network", "none", tag],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def without_install_lines(dockerfile: str) -> str:
    """The printed file with its runtime-package lines taken out (and nothing else)."""
    lines = dockerfile.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("# System libraries"))
    end = next(i for i, line in enumerate(lines) if "rm -rf /var/lib/apt/lists/*" in line)
    return "\n".join(lines[:start] + lines[end + 1 :]) + "\n"


def test_a_wheel_that_needs_libasound_gets_it_in_verify_and_in_the_runtime_image(
    tmp_path: Path, images: list[str]
) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "wheelhouse.yaml").write_text(CONFIG.format(cache=tmp_path / "cache"))
    (app / "requirements.txt").write_text("pyalsaaudio==0.11.0\n")

    built = wheelhouse(app, "build", "--verify", "--json")
    assert built.returncode == 0, built.stderr[-4000:]
    report = json.loads(built.stdout)
    (target,) = report["targets"]
    assert [b["name"] for b in target["built"]] == ["pyalsaaudio"]
    # verify installed the package before its no-network install and imports.
    assert f"{TARGET_ID}: installing libasound2 in {BASE} (linux/amd64)" in built.stderr
    assert report["verify"]["ok"] is True, report["verify"]
    (verified,) = report["verify"]["targets"]
    (package,) = [p for p in verified["packages"] if p["name"] == "pyalsaaudio"]
    assert package["imports"] == {"alsaaudio": "ok"}

    wheelhouse_dir = app / "wheelhouse" / TARGET_ID
    (wheel,) = wheelhouse_dir.glob("pyalsaaudio-0.11.0-*.whl")
    # Without libasound it links only old glibc symbols: auditwheel adds the older tags.
    assert "manylinux_2_36_x86_64" in wheel.name.split("-")[-1]
    with zipfile.ZipFile(wheel) as archive:
        members = archive.namelist()
        assert not [m for m in members if "libasound" in m], members  # not vendored
        (extension,) = [m for m in members if re.fullmatch(r"alsaaudio\..*\.so", m)]
        assert "libasound.so.2" in needed(archive.read(extension))
    log = next((tmp_path / "cache" / "logs" / TARGET_ID).glob("pyalsaaudio-0.11.0*.log"))
    assert "auditwheel repair --plat manylinux_2_36_x86_64 --exclude libasound.so.2" in (
        log.read_text()
    )

    manifest = json.loads((wheelhouse_dir / "manifest.json").read_text())
    assert (manifest["system_libraries"], manifest["runtime_packages"]) == (
        ["libasound.so.2"],
        ["libasound2"],
    )
    (entry,) = [w for w in manifest["wheels"] if w["name"] == "pyalsaaudio"]
    assert (entry["system_libraries"], entry["runtime_packages"]) == (
        ["libasound.so.2"],
        ["libasound2"],
    )

    printed = wheelhouse(app, "dockerfile", "--target", TARGET_ID, "--cmd", f"python -c '{IMPORT}'")
    assert printed.returncode == 0, printed.stderr
    dockerfile = printed.stdout
    assert "apt-get install -y --no-install-recommends \\\n      libasound2 \\\n" in dockerfile
    ignore = wheelhouse(app, "dockerfile", "--target", TARGET_ID, "--dockerignore")
    (app / ".dockerignore").write_text(ignore.stdout)

    tag = f"wheelhouse-test/alsa-runtime:{tmp_path.name.lower()}"
    images.append(tag)
    image = docker_build(app, dockerfile, tag)
    assert image.returncode == 0, image.stderr[-4000:]
    ran = docker_run(tag)
    assert ran.returncode == 0, ran.stderr
    assert re.fullmatch(r"/opt/venv/lib/python3\.11/site-packages/alsaaudio\..*\.so\n", ran.stdout)

    # The same file without the install lines: the image builds, and the import fails.
    bare_tag = f"{tag}-bare"
    images.append(bare_tag)
    bare = docker_build(app, without_install_lines(dockerfile), bare_tag)
    assert bare.returncode == 0, bare.stderr[-4000:]
    failed = docker_run(bare_tag)
    assert failed.returncode != 0
    assert "libasound.so.2: cannot open shared object file" in failed.stderr
