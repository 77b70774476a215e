"""The build's SOURCE_DATE_EPOCH from the sdist, and wheels rewritten canonically."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from orchestrator.build.canonical import (
    ZIP_EPOCH,
    CanonicalError,
    canonicalize,
    sdist_epoch,
)
from orchestrator.build.dockerfile import (
    CrossSpec,
    CrossStage,
    DockerfileSpec,
    PackageStage,
    render_dockerfile,
)

EPOCH = 1_700_000_000  # 2023-11-14T22:13:20Z


def tar_sdist(path: Path, mtimes: dict[str, int]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, mtime in mtimes.items():
            info = tarfile.TarInfo(name)
            info.mtime = mtime
            archive.addfile(info, io.BytesIO(b""))
    return path


def test_the_epoch_is_the_newest_member_of_the_sdist(tmp_path: Path) -> None:
    sdist = tar_sdist(tmp_path / "a-1.tar.gz", {"a-1/setup.py": EPOCH - 50, "a-1/a.c": EPOCH})
    assert sdist_epoch(sdist) == EPOCH


def test_the_epoch_is_never_before_1980(tmp_path: Path) -> None:
    sdist = tar_sdist(tmp_path / "a-1.tar.gz", {"a-1/setup.py": 0})
    assert sdist_epoch(sdist) == ZIP_EPOCH


def test_a_zip_sdist_reads_its_times_as_utc(tmp_path: Path) -> None:
    sdist = tmp_path / "a-1.zip"
    with zipfile.ZipFile(sdist, "w") as zipped:
        zipped.writestr(zipfile.ZipInfo("a-1/setup.py", (2023, 11, 14, 22, 13, 20)), "")
        zipped.writestr(zipfile.ZipInfo("a-1/a.c", (2001, 1, 1, 0, 0, 0)), "")
    assert sdist_epoch(sdist) == EPOCH


def test_an_unreadable_sdist_is_a_canonical_error(tmp_path: Path) -> None:
    bad = tmp_path / "a-1.tar.gz"
    bad.write_bytes(b"not an archive")
    with pytest.raises(CanonicalError, match=r"a-1\.tar\.gz: cannot read the sdist's members"):
        sdist_epoch(bad)


# --- the canonical rewrite -----------------------------------------------------------------------

FILES = {
    "demo/__init__.py": b"from ._ext import f\n",
    "demo/_ext.so": b"\x7fELF fake",
    "demo.libs/libz-1234.so.1": b"\x7fELF lib",
    "demo-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n",
    "demo-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\n",
}


def wheel(path: Path, order: list[str], *, when: tuple[int, ...], level: int) -> Path:
    """A wheel as an archiver might write it: ``order``, a clock, a level, a stale RECORD."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as zipped:
        zipped.writestr(zipfile.ZipInfo("demo/", when), b"")  # type: ignore[arg-type]
        for name in order:
            info = zipfile.ZipInfo(name, when)  # type: ignore[arg-type]
            mode = 0o775 if name.endswith(".so") else 0o664
            info.external_attr = (0o100000 | mode) << 16
            zipped.writestr(info, FILES.get(name, b"stale"), zipfile.ZIP_DEFLATED, level)
    return path


def test_two_archivers_outputs_become_the_same_bytes(tmp_path: Path) -> None:
    names = [*FILES, "demo-1.0.dist-info/RECORD"]
    first = wheel(tmp_path / "a.whl", names, when=(2026, 12, 3, 11, 0, 0), level=1)
    (tmp_path / "b").mkdir()
    second = wheel(tmp_path / "b" / "a.whl", names[::-1], when=(2025, 1, 1, 0, 0, 0), level=9)
    assert first.read_bytes() != second.read_bytes()
    canonicalize(first, EPOCH)
    canonicalize(second, EPOCH)
    assert first.read_bytes() == second.read_bytes()


def test_the_canonical_form(tmp_path: Path) -> None:
    names = ["demo-1.0.dist-info/RECORD", *FILES]
    path = wheel(tmp_path / "a.whl", names, when=(2026, 12, 3, 11, 0, 0), level=1)
    canonicalize(path, EPOCH)
    with zipfile.ZipFile(path) as zipped:
        infos = zipped.infolist()
        record = zipped.read("demo-1.0.dist-info/RECORD").decode()
        data = {i.filename: zipped.read(i) for i in infos}
    assert [i.filename for i in infos] == [
        "demo.libs/libz-1234.so.1",
        "demo/__init__.py",
        "demo/_ext.so",
        "demo-1.0.dist-info/METADATA",
        "demo-1.0.dist-info/WHEEL",
        "demo-1.0.dist-info/RECORD",
    ]
    assert {i.date_time for i in infos} == {(2023, 11, 14, 22, 13, 20)}
    assert {i.filename: i.external_attr >> 16 for i in infos}["demo/_ext.so"] == 0o100755
    assert {i.external_attr >> 16 for i in infos if not i.filename.endswith(".so")} == {0o100644}
    assert {i.compress_type for i in infos} == {zipfile.ZIP_DEFLATED}
    rows = list(csv.reader(io.StringIO(record)))
    assert rows[-1] == ["demo-1.0.dist-info/RECORD", "", ""]
    for name, digest, size in rows[:-1]:
        expected = base64.urlsafe_b64encode(hashlib.sha256(data[name]).digest()).rstrip(b"=")
        assert digest == "sha256=" + expected.decode()
        assert int(size) == len(data[name])


def test_times_before_1980_are_clamped(tmp_path: Path) -> None:
    path = wheel(
        tmp_path / "a.whl",
        [*FILES, "demo-1.0.dist-info/RECORD"],
        when=(2026, 1, 1, 0, 0, 0),
        level=6,
    )
    canonicalize(path, 0)
    with zipfile.ZipFile(path) as zipped:
        assert {i.date_time for i in zipped.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_a_wheel_without_a_record_is_refused(tmp_path: Path) -> None:
    path = wheel(tmp_path / "a.whl", list(FILES), when=(2026, 1, 1, 0, 0, 0), level=6)
    before = path.read_bytes()
    with pytest.raises(
        CanonicalError, match=r"a\.whl: expected one \.dist-info/RECORD, found \[\]"
    ):
        canonicalize(path, EPOCH)
    assert path.read_bytes() == before


def test_a_damaged_wheel_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.whl"
    path.write_bytes(b"PK not really")
    with pytest.raises(CanonicalError, match=r"a\.whl: not a readable wheel"):
        canonicalize(path, EPOCH)
    assert [p.name for p in tmp_path.iterdir()] == ["a.whl"]


# --- the epoch reaches the build scripts ---------------------------------------------------------


def test_each_package_stage_runs_with_its_epoch() -> None:
    cross = CrossSpec(
        debian_arch="arm64",
        triplet="aarch64-linux-gnu",
        host_platform="linux-aarch64",
        toolchain=("gcc-aarch64-linux-gnu",),
        python_version="3.11",
        tools=("pip==25.0",),
        pip_wheel="pip-25.0-py3-none-any.whl",
        packages=(CrossStage(name="b", sdist="b-1.tar.gz", epoch=EPOCH + 1),),  # type: ignore[arg-type]
    )
    spec = DockerfileSpec(
        package_manager="apt",
        toolchain=("gcc",),
        python="python3",
        platform_tag="manylinux_2_36_aarch64",
        timeout=60,
        tools=("pip==25.0",),
        pip_wheel="pip-25.0-py3-none-any.whl",
        packages=(PackageStage(name="a", sdist="a-1.tar.gz", epoch=EPOCH),),  # type: ignore[arg-type]
        cross=cross,
    )
    text = render_dockerfile(spec)
    assert f"SOURCE_DATE_EPOCH={EPOCH} sh /wheelhouse/build-wheel.sh a " in text
    assert f"SOURCE_DATE_EPOCH={EPOCH + 1} sh /wheelhouse/cross-build-wheel.sh b " in text


def test_the_rewritten_wheel_is_readable_by_everyone(tmp_path: Path) -> None:
    """The rewrite goes through a temporary file (0600): the wheel must come out 0644."""
    path = wheel(
        tmp_path / "a.whl",
        ["demo-1.0.dist-info/RECORD", *FILES],
        when=(2026, 1, 1, 0, 0, 0),
        level=1,
    )
    path.chmod(0o600)
    canonicalize(path, EPOCH)
    assert path.stat().st_mode & 0o777 == 0o644
