"""A relative ``--find-links`` folder, end to end: planned, built, collected, verified.

The folder beside the requirements file holds a pure wheel and an sdist made here (flit_core
builds it in seconds; its build requirement comes from the real PyPI), for two projects no
index has. The input is loose, so uv resolves it with the folder (the case that once failed
with "relative URL without a base"); the amd64 build runs natively in the local Debian test
image, the wheelhouse pins both by hash, and verify installs it in a clean container.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.integration.cli import wheelhouse
from tests.integration.fileserver import serve_folder

TARGET_ID = "cp311-manylinux_2_36_x86_64"
CONFIG = f"""\
requirements: app/requirements.txt
output: out
cache_dir: cache
targets:
  - id: {TARGET_ID}
    base_image: wheelhouse-test/python:3.11-bookworm-amd64
    system_packages: [python3-dev, libffi-dev]
"""
REQUIREMENTS = "--find-links=python_wheels\nwhfl-sdist\nwhfl-wheel>=0.1\n"


def sdist(folder: Path) -> Path:
    """whfl_sdist 0.1.0, built with flit_core."""
    root = "whfl_sdist-0.1.0"
    members = {
        f"{root}/PKG-INFO": "Metadata-Version: 2.1\nName: whfl-sdist\nVersion: 0.1.0\n",
        f"{root}/pyproject.toml": (
            '[build-system]\nrequires = ["flit_core>=3.2,<4"]\n'
            'build-backend = "flit_core.buildapi"\n\n'
            '[project]\nname = "whfl_sdist"\nversion = "0.1.0"\n'
            'description = "a find-links test sdist"\nrequires-python = ">=3.8"\n'
        ),
        f"{root}/whfl_sdist/__init__.py": 'ANSWER = "from an sdist"\n',
    }
    path = folder / f"{root}.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for name, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1_700_000_000  # zip (the wheel) refuses dates before 1980
            archive.addfile(info, io.BytesIO(data))
    return path


def wheel(folder: Path) -> Path:
    """whfl_wheel 0.1.0, a pure wheel with a true RECORD."""
    info = "whfl_wheel-0.1.0.dist-info"
    members = {
        "whfl_wheel/__init__.py": b'ANSWER = "from a wheel"\n',
        f"{info}/METADATA": b"Metadata-Version: 2.1\nName: whfl-wheel\nVersion: 0.1.0\n",
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }
    record = "".join(
        f"{name},sha256={_digest(data)},{len(data)}\n" for name, data in members.items()
    )
    path = folder / "whfl_wheel-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        archive.writestr(f"{info}/RECORD", record + f"{info}/RECORD,,\n")
    return path


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


@pytest.mark.engine
@pytest.mark.network
def test_a_relative_find_links_folder_is_planned_built_and_verified(tmp_path: Path) -> None:
    folder = tmp_path / "app" / "python_wheels"
    folder.mkdir(parents=True)
    built_from, shipped = sdist(folder), wheel(folder)
    (tmp_path / "app" / "requirements.txt").write_text(REQUIREMENTS)
    (tmp_path / "wheelhouse.yaml").write_text(CONFIG)

    planned = wheelhouse(tmp_path, "plan", "--json")

    assert planned.returncode == 0, planned.stderr
    (target,) = json.loads(planned.stdout)["targets"]
    rows = {p["name"]: p for p in target["packages"]}
    assert {n: (p["action"], p["file"], p["source"]) for n, p in rows.items()} == {
        "whfl-sdist": ("build", built_from.name, "find-links"),
        "whfl-wheel": ("download", shipped.name, "find-links"),
    }
    assert rows["whfl-sdist"]["sha256"] == hashlib.sha256(built_from.read_bytes()).hexdigest()
    assert rows["whfl-wheel"]["url"] == shipped.as_uri()

    built = wheelhouse(tmp_path, "build", "--verify")

    assert built.returncode == 0, built.stdout + built.stderr
    house = tmp_path / "out" / TARGET_ID
    names = sorted(p.name for p in house.glob("*.whl"))
    assert names == ["whfl_sdist-0.1.0-py3-none-any.whl", shipped.name]
    pins = (house / "requirements.txt").read_text()
    for path in house.glob("*.whl"):
        name = path.name.split("-")[0].replace("_", "-")
        assert f"{name}==0.1.0 --hash=sha256:{hashlib.sha256(path.read_bytes()).hexdigest()}" in (
            pins
        ), pins
    assert (house / shipped.name).read_bytes() == shipped.read_bytes()
    assert "+ import whfl_sdist" in built.stdout + built.stderr


@pytest.mark.network
def test_a_find_links_page_on_a_loopback_server_is_read_for_its_links(tmp_path: Path) -> None:
    """-f http://127.0.0.1:<port>/: the server's folder listing (an HTML page of links) as
    pip reads one; the plan takes the page's files (sha256 null: the listing gives no
    #sha256=, the download store computes it when the file is fetched), and uv resolves the
    loose input from the same page."""
    served = tmp_path / "served"
    served.mkdir()
    built_from, shipped = sdist(served), wheel(served)
    with serve_folder(served) as url:
        page = f"{url}/"
        (tmp_path / "app").mkdir()
        (tmp_path / "app" / "requirements.txt").write_text(
            f"-f {page}\nwhfl-sdist\nwhfl-wheel>=0.1\n"
        )
        (tmp_path / "wheelhouse.yaml").write_text(CONFIG)
        planned = wheelhouse(tmp_path, "plan", "--json")

    assert planned.returncode == 0, planned.stderr
    (target,) = json.loads(planned.stdout)["targets"]
    rows = {p["name"]: (p["action"], p["url"], p["source"]) for p in target["packages"]}
    assert rows == {
        "whfl-sdist": ("build", page + built_from.name, "find-links"),
        "whfl-wheel": ("download", page + shipped.name, "find-links"),
    }
