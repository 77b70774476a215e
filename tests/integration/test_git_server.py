"""Git sources from a real git server: two real projects, pinned by commit, end to end.

crcmod 1.7 (a C extension) and docopt 0.6.2 (pure Python), their sdists from PyPI unpacked
and committed as repositories (docopt's commit tagged ``0.6.2``), are served by
``git http-backend`` on loopback (``tests.integration.gitserver``), over ``http://`` with
a port as a forge's ``https://`` URL would be. Both input forms reach the same commits:

- a requirements.txt with ``crcmod @ git+http://...@<sha>`` and the legacy
  ``git+http://...@<sha>#egg=docopt``;
- a uv.lock made by the real ``uv lock`` of a pyproject whose dependencies are those git
  URLs (docopt by its tag: the lock and the plan name the commit).

Each is planned (``source: git``, the commit, the repository URL), built with ``--verify``
for amd64 (native) and arm64 (cross-compiled, forced), collected with hash pins of the
built wheels, and verified in clean containers. A plan in a fresh cache (a new clone and
checkout, so other file dates) makes the same sdists, byte for byte. The uv.lock run shares
the requirements run's cache: the same commits give the same sdists, so its builds come
from the build cache and its wheelhouses hold the very same wheels (verify still installs
them afresh).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from orchestrator.pypi.downloads import Downloader, FileRequest
from orchestrator.pypi.index import IndexClient, IndexConfig
from tests.integration.cli import wheelhouse
from tests.integration.conftest import TEST_IMAGES, TEST_SYSTEM_PACKAGES, TEST_TARGETS
from tests.integration.gitserver import bare_clone, git, serve_git

pytestmark = [pytest.mark.engine, pytest.mark.network]

AMD64, ARM64 = TEST_TARGETS["amd64"].id, TEST_TARGETS["arm64"].id
PACKAGES = {"crcmod": "1.7", "docopt": "0.6.2"}
SYSTEM = "[" + ", ".join(TEST_SYSTEM_PACKAGES) + "]"
CONFIG = f"""\
requirements: {{input}}
output: out
cache_dir: {{cache}}
targets:
  - id: {AMD64}
    base_image: {TEST_IMAGES["amd64"]}
    system_packages: {SYSTEM}
  - id: {ARM64}
    base_image: {TEST_IMAGES["arm64"]}
    # no registry: the arm64 tag holds arm64 only, the cross stages run the amd64 image
    cross_image: {TEST_IMAGES["amd64"]}
    package_manager: apt
    system_packages: {SYSTEM}
    build_mode: cross
"""


@dataclass(frozen=True)
class Repository:
    name: str
    version: str
    url: str
    commit: str


@pytest.fixture(scope="module")
def committed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """crcmod's and docopt's sdists from PyPI, each committed (and tagged with its
    version) as a bare repository in one folder: the folder, and each commit by name."""
    root = tmp_path_factory.mktemp("git-server")
    commits = {}
    for name, version in PACKAGES.items():
        work = root / "work" / name
        with tarfile.open(pypi_sdist(name, version, root / "pypi")) as archive:
            archive.extractall(work.parent, filter="data")
        (work.parent / f"{name}-{version}").rename(work)
        git(work, "init", "--quiet")
        git(work, "add", ".")
        git(work, "commit", "--quiet", "-m", f"{name} {version}, as released on PyPI")
        git(work, "tag", version)
        commits[name] = bare_clone(work, root / "served", name)
    return root / "served", commits


@pytest.fixture(scope="module")
def repositories(committed: tuple[Path, dict[str, str]]) -> Iterator[dict[str, Repository]]:
    """The repositories, served over http:// on loopback."""
    root, commits = committed
    with serve_git(root) as server:
        yield {n: Repository(n, v, server.repository(n), commits[n]) for n, v in PACKAGES.items()}


def pypi_sdist(name: str, version: str, cache: Path) -> Path:
    page = IndexClient(IndexConfig(), cache=None).get_projects_sync([name])[canonicalize_name(name)]
    assert page is not None, name
    (file,) = [f for f in page.files if f.filename == f"{name}-{version}.tar.gz"]
    with Downloader.for_cache(cache) as downloader:
        stored = downloader.fetch(
            FileRequest(filename=file.filename, url=file.url, sha256=file.sha256)
        )
    return stored.path


def app(folder: Path, input_file: str, cache: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "wheelhouse.yaml").write_text(CONFIG.format(input=input_file, cache=cache))
    return folder


def planned_rows(folder: Path) -> dict[str, dict[str, dict[str, object]]]:
    """``plan --json``: per target, each package's row by name."""
    planned = wheelhouse(folder, "plan", "--json")
    assert planned.returncode == 0, planned.stderr
    targets = json.loads(planned.stdout)["targets"]
    return {t["id"]: {p["name"]: p for p in t["packages"]} for t in targets}


def assert_git_rows(rows: dict[str, dict[str, object]], repos: dict[str, Repository]) -> None:
    assert {n: (r["version"], r["action"], r["source"]) for n, r in rows.items()} == {
        n: (v, "build", "git") for n, v in PACKAGES.items()
    }
    for name, row in rows.items():
        assert (row["commit"], row["repository"]) == (repos[name].commit, repos[name].url)


def built_and_verified(
    folder: Path, repos: dict[str, Repository], *, cached: bool
) -> dict[str, str]:
    """``build --verify``: both packages built (``cached``: taken from the build cache) for
    each target, natively or cross-compiled; each wheelhouse pins its wheels by their own
    sha256 and its manifest names each commit. Every wheel's sha256, by file name."""
    start = time.monotonic()
    built = wheelhouse(folder, "build", "--verify", "--json")
    print(f"{folder.name}: build --verify, two targets: {time.monotonic() - start:.1f} s")

    assert built.returncode == 0, built.stdout + built.stderr
    report = {t["id"]: t for t in json.loads(built.stdout)["targets"]}
    fresh = {t: {b["name"]: b["build_mode"] for b in r["built"]} for t, r in report.items()}
    if cached:
        assert fresh == {AMD64: {}, ARM64: {}}
        assert [r["cached"] for r in report.values()] == [2, 2]
    else:
        assert fresh == {
            AMD64: dict.fromkeys(PACKAGES, "native"),
            ARM64: dict.fromkeys(PACKAGES, "cross"),
        }
    hashes = {}
    for target, platform in ((AMD64, "x86_64"), (ARM64, "aarch64")):
        house = folder / "out" / target
        wheels = sorted(house.glob("*.whl"))
        assert [w.name.split("-")[0] for w in wheels] == sorted(PACKAGES)
        crcmod = next(w.name for w in wheels if w.name.startswith("crcmod-"))
        assert crcmod.startswith("crcmod-1.7-cp311-cp311-") and crcmod.endswith(f"_{platform}.whl")
        pins = (house / "requirements.txt").read_text()
        for wheel in wheels:
            name, version = wheel.name.split("-")[:2]
            sha256 = hashlib.sha256(wheel.read_bytes()).hexdigest()
            assert f"{name}=={version} --hash=sha256:{sha256}" in pins, pins
            hashes[wheel.name] = sha256
        entries = json.loads((house / "manifest.json").read_text())["wheels"]
        assert {e["name"]: (e["source"], e["commit"], e["repository"]) for e in entries} == {
            n: ("git", r.commit, r.url) for n, r in repos.items()
        }
    output = built.stdout + built.stderr
    assert "+ import crcmod" in output and "+ import docopt" in output, output
    return hashes


def test_git_requirements_and_a_uv_lock_from_a_git_server_are_built_for_amd64_and_arm64(
    repositories: dict[str, Repository], tmp_path: Path
) -> None:
    crcmod, docopt = repositories["crcmod"], repositories["docopt"]
    cache = tmp_path / "cache"
    reqapp = app(tmp_path / "reqapp", "requirements.txt", cache)
    (reqapp / "requirements.txt").write_text(
        f"crcmod @ git+{crcmod.url}@{crcmod.commit}\ngit+{docopt.url}@{docopt.commit}#egg=docopt\n"
    )

    rows = planned_rows(reqapp)
    sdists = {n: rows[AMD64][n]["sha256"] for n in PACKAGES}

    assert rows.keys() == {AMD64, ARM64}
    for target in rows.values():
        assert_git_rows(target, repositories)
    assert rows[ARM64]["crcmod"]["build_mode"] == "cross"
    again = app(tmp_path / "again", "requirements.txt", tmp_path / "fresh-cache")
    (again / "requirements.txt").write_text((reqapp / "requirements.txt").read_text())
    fresh = planned_rows(again)[AMD64]  # a new clone and checkout: other file dates
    assert {n: fresh[n]["sha256"] for n in PACKAGES} == sdists
    from_requirements = built_and_verified(reqapp, repositories, cached=False)

    lockapp = app(tmp_path / "lockapp", "uv.lock", cache)
    (lockapp / "pyproject.toml").write_text(
        '[project]\nname = "whgitapp"\nversion = "0.1.0"\nrequires-python = ">=3.11"\n'
        f'dependencies = ["crcmod @ git+{crcmod.url}@{crcmod.commit}",'
        f' "docopt @ git+{docopt.url}@{docopt.version}"]\n'
    )
    uv = Path(sys.executable).with_name("uv")
    subprocess.run([str(uv), "lock", "--quiet"], cwd=lockapp, check=True, timeout=120)
    lock = (lockapp / "uv.lock").read_text()
    assert f'git = "{docopt.url}?rev={docopt.version}#{docopt.commit}"' in lock, lock

    rows = planned_rows(lockapp)  # the app itself (the lock's root project) is no row

    for target in rows.values():
        assert_git_rows(target, repositories)
        for name in PACKAGES:  # the same commit: the same sdist as from requirements.txt
            assert target[name]["sha256"] == sdists[name]  # (made once per commit)
    assert built_and_verified(lockapp, repositories, cached=True) == from_requirements


def test_a_private_repository_is_fetched_with_the_users_credentials_and_never_shows_them(
    committed: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """The server asks for a login (HTTP Basic, 401 first, as a private forge does): from
    the URL's userinfo or from the user's git credential helper, the plan fetches the
    commit; without either it is the line's error, not a password prompt. The password is
    in no output and in no file the plan wrote (the git cache included)."""
    root, commits = committed
    secret = "s3cret-pw"
    folder = app(tmp_path / "app", "requirements.txt", tmp_path / "app" / "cache")
    with serve_git(root, login=("wh", secret)) as server:
        url = server.repository("docopt")
        requirement = f"docopt @ git+{{}}@{commits['docopt']}\n"
        (folder / "requirements.txt").write_text(
            requirement.format(server.repository("docopt", f"wh:{secret}"))
        )
        with_userinfo = wheelhouse(folder, "plan", "--json")
        (folder / "requirements.txt").write_text(requirement.format(url))
        helper = "!f() { test $1 = get && echo username=wh && echo password=" + secret + "; }; f"
        with_helper = wheelhouse(
            folder,
            "plan",
            "--json",
            env={
                "GIT_CONFIG_COUNT": "1",
                "GIT_CONFIG_KEY_0": "credential.helper",
                "GIT_CONFIG_VALUE_0": helper,
            },
        )
        written = [p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()]
        leaks = [p for p in written if secret.encode() in p.read_bytes()]
        shutil.rmtree(folder / "cache")  # the commit is there: fetch it again
        without = wheelhouse(folder, "plan")

    shown = url.replace("http://", "http://****@")
    for planned, repository in ((with_userinfo, shown), (with_helper, url)):
        assert planned.returncode == 0, planned.stderr
        for target in json.loads(planned.stdout)["targets"]:
            ((row),) = target["packages"]
            assert (row["source"], row["commit"], row["repository"]) == (
                "git",
                commits["docopt"],
                repository,
            )
        assert secret not in planned.stdout + planned.stderr
    assert without.returncode == 3, without.stdout + without.stderr
    error = next(line for line in without.stdout.splitlines() if "docopt" in line)
    assert "ERROR" in error and "could not read Username" in error, without.stdout
    assert any(p.name == "docopt-0.6.2.tar.gz" for p in written)
    assert leaks == []
