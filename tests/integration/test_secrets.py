"""build.secret_env against the real engine: the value reaches the build, and nothing kept.

A generated sdist with an in-tree PEP 517 backend (no build requirement, so no index is
asked) fails its build unless WH_BUILD_TOKEN is set, writes the value's sha256 into the
wheel; the recipe's before_build prints the value itself to the build log, as a careless
step would. The amd64 build runs natively in the local Debian test
image, offline. Then every file wheelhouse wrote (wheelhouse, manifest, provenance, cache,
logs) and everything it printed is searched for the value: it must be nowhere. A second run
with another value builds nothing: a secret is not part of the build cache key.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.integration.cli import wheelhouse

pytestmark = [pytest.mark.engine]

TARGET_ID = "cp311-manylinux_2_36_x86_64"
VALUE = "wh-s3cr3t-9f4c2e71"
CONFIG = f"""\
requirements: app/requirements.txt
output: out
cache_dir: cache
build:
  secret_env: [WH_BUILD_TOKEN]
packages:
  whsecret:
    before_build: 'echo "before_build sees $WH_BUILD_TOKEN"'
targets:
  - id: {TARGET_ID}
    base_image: wheelhouse-test/python:3.11-bookworm-amd64
"""
BACKEND = '''\
"""A PEP 517 backend in ten lines: the build needs WH_BUILD_TOKEN (KeyError without it)."""
import hashlib, os, zipfile

METADATA = "Metadata-Version: 2.1\\nName: whsecret\\nVersion: 1.0\\n"
WHEEL = "Wheel-Version: 1.0\\nGenerator: t\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    token = os.environ["WH_BUILD_TOKEN"]
    name = "whsecret-1.0-py3-none-any.whl"
    info = "whsecret-1.0.dist-info"
    digest = hashlib.sha256(token.encode()).hexdigest()
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as wheel:
        wheel.writestr("whsecret/__init__.py", f"TOKEN_SHA256 = {digest!r}\\n")
        wheel.writestr(f"{info}/METADATA", METADATA)
        wheel.writestr(f"{info}/WHEEL", WHEEL)
        wheel.writestr(f"{info}/RECORD", "")
    return name
'''


def make_sdist(folder: Path) -> None:
    folder.mkdir(parents=True)
    members = {
        "PKG-INFO": "Metadata-Version: 2.1\nName: whsecret\nVersion: 1.0\n",
        "pyproject.toml": '[build-system]\nrequires = []\nbuild-backend = "backend"\n'
        'backend-path = ["."]\n',
        "backend.py": BACKEND,
    }
    with tarfile.open(folder / "whsecret-1.0.tar.gz", "w:gz") as archive:
        for name, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(f"whsecret-1.0/{name}")
            info.size, info.mtime = len(data), 1_700_000_000
            archive.addfile(info, io.BytesIO(data))


def files_holding(root: Path, needle: bytes) -> list[str]:
    """Every file under ``root`` whose bytes (or, for a zip, a member's) hold ``needle``."""
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        data = path.read_bytes()
        if needle in data:
            found.append(str(path))
        elif zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                if any(needle in archive.read(m) for m in archive.namelist()):
                    found.append(f"{path} (a member)")
    return found


def test_a_secret_reaches_the_build_and_is_kept_nowhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "wheelhouse.yaml").write_text(CONFIG)
    make_sdist(tmp_path / "app" / "dist")
    (tmp_path / "app" / "requirements.txt").write_text("--find-links dist\nwhsecret==1.0\n")

    monkeypatch.delenv("WH_BUILD_TOKEN", raising=False)
    unset = wheelhouse(tmp_path, "build")
    assert unset.returncode == 2, unset.stderr  # bad input, before any build
    assert "build.secret_env names WH_BUILD_TOKEN, not set" in unset.stderr
    assert "export WH_BUILD_TOKEN=" in unset.stderr

    monkeypatch.setenv("WH_BUILD_TOKEN", VALUE)
    built = wheelhouse(tmp_path, "build", "--verify", "--json")
    assert built.returncode == 0, built.stderr
    (target,) = json.loads(built.stdout)["targets"]
    assert [b["name"] for b in target["built"]] == ["whsecret"]
    (wheel,) = (tmp_path / "out" / TARGET_ID).glob("whsecret-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        module = archive.read("whsecret/__init__.py").decode()
    assert hashlib.sha256(VALUE.encode()).hexdigest() in module  # the build had the value
    log = next((tmp_path / "cache" / "logs" / TARGET_ID).glob("whsecret-1.0*.log")).read_text()
    assert "before_build sees ***" in log  # before_build had it, and printed it: redacted
    assert files_holding(tmp_path, VALUE.encode()) == []
    assert VALUE not in built.stdout + built.stderr

    monkeypatch.setenv("WH_BUILD_TOKEN", VALUE + "-rotated")
    again = wheelhouse(tmp_path, "build", "--json")
    assert again.returncode == 0, again.stderr
    (target,) = json.loads(again.stdout)["targets"]
    assert (target["built"], target["cached"]) == ([], 1)  # a new value rebuilds nothing
