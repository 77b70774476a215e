"""Reproducible builds against the real engine and PyPI: crcmod 1.7 (a C extension) built
twice from cold gives the same bytes, and the same wheelhouse files; a generated sdist that
writes the build's time into a module is reported as not reproducible, with its member.

One plan holds both, so the first build and the rebuild are one buildx run each
(``--check-reproducible``'s own code: ``build.reproduce.check_reproducible``), on the host's
architecture (amd64: native, no QEMU).
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from orchestrator.build.builder import build_target
from orchestrator.build.cache import BuildCache
from orchestrator.build.reproduce import check_reproducible
from orchestrator.model import PackagePlan, TargetBuild, TargetPlan
from orchestrator.plan.modes import BuildModes
from orchestrator.pypi.downloads import Downloader
from orchestrator.wheelhouse.collect import collect_wheelhouse
from tests.integration.conftest import TEST_TARGETS, SetBuilder, set_target_config
from tests.integration.fileserver import serve_folder

pytestmark = [pytest.mark.engine, pytest.mark.network]

STAMP_SETUP = """\
import time
from setuptools import setup
with open("timebomb/_stamp.py", "w") as out:
    out.write(f"BUILT_AT_NS = {time.time_ns()}\\n")
setup(name="timebomb", version="1.0", packages=["timebomb"])
"""


def timebomb_sdist(where: Path) -> Path:
    """A pure-Python sdist whose setup.py writes the build's clock into a module."""
    path = where / "timebomb-1.0.tar.gz"
    files = {
        "timebomb-1.0/PKG-INFO": "Metadata-Version: 2.1\nName: timebomb\nVersion: 1.0\n",
        "timebomb-1.0/pyproject.toml": '[build-system]\nrequires = ["setuptools"]\n'
        'build-backend = "setuptools.build_meta"\n',
        "timebomb-1.0/setup.py": STAMP_SETUP,
        "timebomb-1.0/timebomb/__init__.py": "from ._stamp import BUILT_AT_NS\n",
    }
    with tarfile.open(path, "w:gz") as archive:
        for name, text in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(text.encode()), 1_700_000_000
            archive.addfile(info, io.BytesIO(text.encode()))
    return path


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """A loopback HTTP server for ``tmp_path/served``: its base URL."""
    root = tmp_path / "served"
    root.mkdir()
    with serve_folder(root) as url:
        yield url


def test_crcmod_reproduces_and_a_clock_in_a_module_is_reported(
    shared_builds: SetBuilder, tmp_path: Path, served: str
) -> None:
    target = TEST_TARGETS["amd64"]
    sdist = timebomb_sdist(tmp_path / "served")
    timebomb = PackagePlan(
        name=canonicalize_name("timebomb"),
        version="1.0",
        action="build",
        file=sdist.name,
        url=f"{served}/{sdist.name}",
        sha256=hashlib.sha256(sdist.read_bytes()).hexdigest(),
        build_mode="native",
    )
    crcmod = shared_builds.plan(target, [("crcmod", "1.7", False)])
    plan = TargetPlan(target=target, packages=(*crcmod.packages, timebomb))
    engine = shared_builds.counting_engine()
    files = Downloader.for_cache(tmp_path / "files")

    def build(plan: TargetPlan, cache: BuildCache, workdir: Path, modes: BuildModes) -> TargetBuild:
        built = build_target(
            plan,
            set_target_config("amd64"),
            engine=engine,
            downloader=files,
            cache=cache,
            resolve=shared_builds.resolve,
            workdir=workdir,
            log_dir=tmp_path / "logs" / cache.root.parent.name,
            timeout=600,
            force=True,
            modes=modes,
        )
        collect_wheelhouse(built, tmp_path / "out" / cache.root.parent.name)
        return built

    first_cache = BuildCache.for_cache(tmp_path / "first")
    first = build(plan, first_cache, tmp_path / "work", BuildModes())
    assert first.failures == ()
    found = check_reproducible(
        plan,
        first,
        build,
        modes=BuildModes(),
        cache=first_cache,
        scratch=tmp_path / "scratch",
        keep=tmp_path / "kept",
    )

    verdicts = {r.name: r.difference for r in found}
    assert verdicts == {
        "crcmod": None,
        "timebomb": "timebomb-1.0-py3-none-any.whl: member timebomb/_stamp.py differs",
    }
    assert engine.buildx_runs == 2
    (kept,) = (r.kept for r in found if r.name == "timebomb")
    assert [p.name for p in kept] == ["timebomb-1.0-py3-none-any.whl"]
    # The rebuild's wheelhouse: crcmod's wheel, manifest entry and requirements line are
    # byte-identical to the first's (timebomb's differ, as they must).
    houses = [tmp_path / "out" / "first" / target.id]
    houses += [p / target.id for p in (tmp_path / "out").iterdir() if p.name != "first"]
    assert len(houses) == 2
    crc = next(houses[0].glob("crcmod-*.whl")).name
    assert (houses[0] / crc).read_bytes() == (houses[1] / crc).read_bytes()
    pins = [
        [x for x in (h / "requirements.txt").read_text().splitlines() if "crcmod" in x]
        for h in houses
    ]
    assert pins[0] == pins[1] and pins[0]
    entries = [
        [
            w
            for w in json.loads((h / "manifest.json").read_text())["wheels"]
            if w["name"] == "crcmod"
        ]
        for h in houses
    ]
    assert entries[0] == entries[1] and entries[0]
