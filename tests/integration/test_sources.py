"""Requirements that name their own source, end to end: planned, built, verified (amd64).

- ``./libs/whsrc_foo``: a project folder (flit_core), made an sdist on the host with
  ``uv build --sdist``, built natively in the Debian test image; it requires six, which the
  closure check adds from the real PyPI;
- ``vendor/whsrc_local-0.1.0-py3-none-any.whl``: a local pure wheel, taken as it is;
- ``whsrc-url @ http://127.0.0.1:<port>/whsrc_url-0.1.0-py3-none-any.whl#sha256=...``: a
  pure wheel served by an HTTP server this test starts on loopback;
- ``-e ./app``: the app itself, an ``app`` row, not built.
"""

from __future__ import annotations

import base64
import hashlib
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.cli import wheelhouse
from tests.integration.fileserver import serve_folder

TARGET_ID = "cp311-manylinux_2_36_x86_64"
CONFIG = f"""\
requirements: requirements.txt
output: out
cache_dir: cache
targets:
  - id: {TARGET_ID}
    base_image: wheelhouse-test/python:3.11-bookworm-amd64
    system_packages: [python3-dev, libffi-dev]
"""
FLIT = '[build-system]\nrequires = ["flit_core>=3.2,<4"]\nbuild-backend = "flit_core.buildapi"\n'


def project(folder: Path, name: str, dependencies: str = "") -> None:
    (folder / name).mkdir(parents=True)
    (folder / name / "__init__.py").write_text(f'ANSWER = "{name}"\n')
    (folder / "pyproject.toml").write_text(
        f'{FLIT}\n[project]\nname = "{name}"\nversion = "0.1.0"\ndescription = "x"\n'
        f'requires-python = ">=3.8"\ndependencies = [{dependencies}]\n'
    )


def pure_wheel(folder: Path, name: str) -> Path:
    info = f"{name}-0.1.0.dist-info"
    dist = name.replace("_", "-")
    members = {
        f"{name}/__init__.py": f'ANSWER = "{name}"\n'.encode(),
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1.0\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }
    record = "".join(f"{n},sha256={_digest(d)},{len(d)}\n" for n, d in members.items())
    path = folder / f"{name}-0.1.0-py3-none-any.whl"
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        for member, data in members.items():
            archive.writestr(member, data)
        archive.writestr(f"{info}/RECORD", record + f"{info}/RECORD,,\n")
    return path


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTP server on loopback serving one pure wheel: (its URL, the file)."""
    root = tmp_path / "served"
    wheel = pure_wheel(root, "whsrc_url")
    with serve_folder(root) as url:
        yield f"{url}/{wheel.name}", wheel


@pytest.mark.engine
@pytest.mark.network
def test_folder_archive_url_and_editable_sources_are_planned_built_and_verified(
    tmp_path: Path, served: tuple[str, Path]
) -> None:
    url, url_wheel = served
    project(tmp_path / "libs" / "whsrc_foo", "whsrc_foo", '"six"')
    project(tmp_path / "app", "whsrc_app")
    local = pure_wheel(tmp_path / "vendor", "whsrc_local")
    sha = hashlib.sha256(url_wheel.read_bytes()).hexdigest()
    (tmp_path / "requirements.txt").write_text(
        f"./libs/whsrc_foo\nvendor/{local.name}\nwhsrc-url @ {url}#sha256={sha}\n-e ./app\n"
    )
    (tmp_path / "wheelhouse.yaml").write_text(CONFIG)

    planned = wheelhouse(tmp_path, "plan", "--json")

    assert planned.returncode == 0, planned.stderr
    (target,) = json.loads(planned.stdout)["targets"]
    rows = {p["name"]: (p["action"], p["file"], p["source"]) for p in target["packages"]}
    six = rows["six"][1]  # the closure check's pick from PyPI: whichever six is newest
    assert six is not None
    assert six.startswith("six-")
    assert rows == {
        "whsrc-app": ("app", None, None),
        "whsrc-foo": ("build", "whsrc_foo-0.1.0.tar.gz", "path"),
        "whsrc-local": ("download", local.name, "path"),
        "whsrc-url": ("download", url_wheel.name, "url"),
        "six": ("download", six, None),
    }

    built = wheelhouse(tmp_path, "build", "--verify")

    assert built.returncode == 0, built.stdout + built.stderr
    house = tmp_path / "out" / TARGET_ID
    assert sorted(p.name for p in house.glob("*.whl")) == sorted(
        [
            six,
            "whsrc_foo-0.1.0-py3-none-any.whl",
            local.name,
            url_wheel.name,
        ]
    )
    pins = (house / "requirements.txt").read_text()
    assert f"whsrc-url==0.1.0 --hash=sha256:{sha}" in pins, pins
    assert "whsrc-app" not in pins
    assert "+ import whsrc_foo" in built.stdout + built.stderr
