"""Hostile sdists, built for real here (tarfile/zipfile), read by the real host-side code.

Path traversal, a symlink out of the tree, a device file, a member that decompresses to
more than the bound (a few KiB on disk), too many bytes unpacked: each is refused with
the project's error, and nothing is written outside the place it was unpacked to.
"""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

import pytest

from orchestrator.archives import (
    MAX_MEMBER_BYTES,
    MIB,
    ArchiveError,
    canonical_tar_gz,
    extract,
    tar_members,
)
from orchestrator.build.canonical import CanonicalError, sdist_epoch
from orchestrator.build.crates import CrateError, CrateVendor, cargo_lock_dirs
from orchestrator.build.requires import SdistError, read_build_requires
from orchestrator.pypi.metadata import MetadataError, sdist_pkg_info

CARGO = b'[package]\nname = "x"\nversion = "0.1.0"\n'


def tar_sdist(path: Path, members: Sequence[tarfile.TarInfo | tuple[str, bytes]]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                archive.addfile(member)
            else:
                name, data = member
                info = tarfile.TarInfo(name)
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    return path


def link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


def device(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 3
    return info


class NoCargo:
    """The cargo runner: must never be reached for a refused sdist."""

    def __call__(self, args: Sequence[str]) -> tuple[int, str, str]:
        raise AssertionError(f"cargo ran on a refused sdist: {args}")


def vendor(sdist: Path, tmp_path: Path) -> CrateError:
    crates = CrateVendor(cargo="/usr/bin/cargo", run=NoCargo())
    with pytest.raises(CrateError) as info:
        crates(sdist, tmp_path / "dest", name="x", version="0.1.0", target="t")
    return info.value


@pytest.mark.parametrize(
    ("member", "said"),
    [
        (("x-0.1.0/../../escaped", b"owned"), "outside the destination"),
        (link("x-0.1.0/etc", "/etc"), "absolute"),
        (link("x-0.1.0/up", "../../.."), "outside the destination"),
        (device("x-0.1.0/null"), "special file"),
    ],
    ids=["dotdot", "symlink-to-etc", "symlink-up", "char-device"],
)
def test_an_unsafe_tar_member_is_refused_before_cargo_and_nothing_escapes(
    tmp_path: Path, member: tarfile.TarInfo | tuple[str, bytes], said: str
) -> None:
    sdist = tar_sdist(
        tmp_path / "x-0.1.0.tar.gz",
        [("x-0.1.0/Cargo.toml", CARGO), ("x-0.1.0/Cargo.lock", b""), member],
    )
    error = vendor(sdist, tmp_path)
    assert "x==0.1.0: its sdist is refused before cargo vendor: " in str(error)
    assert said in str(error)
    assert not (tmp_path / "escaped").exists()


def test_an_absolute_tar_member_is_unpacked_inside_the_tree(tmp_path: Path) -> None:
    outside = tmp_path / "absolute-escaped"
    sdist = tar_sdist(tmp_path / "x-0.1.0.tar.gz", [(str(outside), b"owned")])
    extract(sdist, tmp_path / "into")
    assert not outside.exists()
    assert (tmp_path / "into" / str(outside).lstrip("/")).read_bytes() == b"owned"


def test_a_symlink_member_of_a_zip_is_written_as_a_plain_file_inside(tmp_path: Path) -> None:
    sdist = tmp_path / "x-0.1.0.zip"
    with zipfile.ZipFile(sdist, "w") as archive:
        info = zipfile.ZipInfo("x-0.1.0/etc")
        info.external_attr = 0o120777 << 16  # S_IFLNK
        archive.writestr(info, "/etc")
        archive.writestr("x-0.1.0/../../escaped", b"owned")
    extract(sdist, tmp_path / "into")
    written = tmp_path / "into" / "x-0.1.0" / "etc"
    assert not written.is_symlink() and written.read_text() == "/etc"
    assert not (tmp_path / "escaped").exists()


def test_a_pyproject_that_decompresses_past_the_bound_is_refused_unread(tmp_path: Path) -> None:
    bomb = b"\0" * (MAX_MEMBER_BYTES + 1)
    sdist = tar_sdist(tmp_path / "x-0.1.0.tar.gz", [("x-0.1.0/pyproject.toml", bomb)])
    assert sdist.stat().st_size < 64 * 1024  # a few KiB on disk
    with pytest.raises(SdistError) as info:
        read_build_requires(sdist)
    assert info.value.message == (
        "x-0.1.0.tar.gz: its x-0.1.0/pyproject.toml is larger than 8 MiB: refused "
        "(a broken or hostile sdist)"
    )


def test_a_zip_pyproject_bomb_is_refused_too(tmp_path: Path) -> None:
    sdist = tmp_path / "x-0.1.0.zip"
    with zipfile.ZipFile(sdist, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("x-0.1.0/pyproject.toml", b" " * (MAX_MEMBER_BYTES + 1))
    with pytest.raises(SdistError, match="larger than 8 MiB: refused"):
        read_build_requires(sdist)


def test_a_pkg_info_bomb_is_a_metadata_error(tmp_path: Path) -> None:
    sdist = tar_sdist(
        tmp_path / "x-0.1.0.tar.gz", [("x-0.1.0/PKG-INFO", b"A" * (MAX_MEMBER_BYTES + 1))]
    )
    with pytest.raises(MetadataError, match="PKG-INFO is larger than 8 MiB: refused"):
        sdist_pkg_info(sdist.name, sdist.read_bytes())


def test_unpacking_past_the_byte_bound_is_refused_before_writing(tmp_path: Path) -> None:
    sdist = tar_sdist(
        tmp_path / "x-0.1.0.tar.gz",
        [("x-0.1.0/a", b"\0" * MIB), ("x-0.1.0/b", b"\0" * MIB)],
    )
    with pytest.raises(ArchiveError, match="unpacks to more than 1 MiB: refused"):
        extract(sdist, tmp_path / "into", limit=MIB + 10)
    assert not (tmp_path / "into").exists()


def test_a_zip_bomb_is_refused_from_its_directory(tmp_path: Path) -> None:
    sdist = tmp_path / "x-0.1.0.zip"
    with zipfile.ZipFile(sdist, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("x-0.1.0/big", b"\0" * (3 * MIB))
    with pytest.raises(ArchiveError, match="unpacks to more than 2 MiB"):
        extract(sdist, tmp_path / "into", limit=2 * MIB)
    assert not (tmp_path / "into").exists()


def test_too_many_members_are_refused(tmp_path: Path) -> None:
    sdist = tar_sdist(tmp_path / "x-0.1.0.tar.gz", [(f"x-0.1.0/{i}", b"") for i in range(11)])
    with pytest.raises(ArchiveError, match="more than 10 members"):
        extract(sdist, tmp_path / "into", max_members=10)


def test_a_well_formed_sdist_unpacks(tmp_path: Path) -> None:
    sdist = tar_sdist(tmp_path / "x-0.1.0.tar.gz", [("x-0.1.0/Cargo.toml", CARGO)])
    extract(sdist, tmp_path / "into")
    assert (tmp_path / "into" / "x-0.1.0" / "Cargo.toml").read_bytes() == CARGO


def test_a_truncated_sdist_is_the_packages_error_not_a_traceback(tmp_path: Path) -> None:
    """pyproject.toml first, then a cut: the build-requirement read succeeds, the Cargo.lock
    lookup meets the end of the gzip stream (EOFError, which is no TarError)."""
    whole = tar_sdist(
        tmp_path / "x-0.1.0.tar.gz",
        [
            ("x-0.1.0/pyproject.toml", b'[build-system]\nrequires = ["maturin"]\n'),
            ("x-0.1.0/big", bytes(range(256)) * 4096),
        ],
    )
    data = whole.read_bytes()
    whole.write_bytes(data[: len(data) * 2 // 3])
    assert "maturin" in read_build_requires(whole)
    with pytest.raises(SdistError, match=r"cannot read sdist x-0\.1\.0\.tar\.gz: "):
        cargo_lock_dirs(whole)
    assert "cannot read sdist x-0.1.0.tar.gz" in str(vendor(whole, tmp_path))


def claims_two_gib(path: Path, then: Sequence[tuple[str, bytes]] = ()) -> Path:
    """A gzipped tar whose first header claims a 2 GiB member (its data never follows: a
    reader that honours the bound stops at the header, before decompressing anything)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as archive:
        for name, data in then:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    huge = tarfile.TarInfo("x-0.1.0/huge")
    huge.size = 2 << 30
    with gzip.open(path, "wb") as out:
        out.write(huge.tobuf(format=tarfile.GNU_FORMAT))
        out.write(raw.getvalue())
    return path


def test_every_tar_reader_stops_at_a_header_past_the_bound(tmp_path: Path) -> None:
    sdist = claims_two_gib(tmp_path / "x-0.1.0.tar.gz", [("x-0.1.0/PKG-INFO", b"Name: x\n")])
    with tarfile.open(sdist) as archive, pytest.raises(ArchiveError, match="1024 MiB"):
        list(tar_members(archive, sdist.name))
    with pytest.raises(MetadataError, match="unpacks to more than 1024 MiB"):
        sdist_pkg_info(sdist.name, sdist.read_bytes())
    with pytest.raises(CanonicalError, match="unpacks to more than 1024 MiB"):
        sdist_epoch(sdist)
    with pytest.raises(SdistError, match="unpacks to more than 1024 MiB"):
        read_build_requires(sdist)


def test_tar_members_counts_members_too(tmp_path: Path) -> None:
    sdist = tar_sdist(tmp_path / "x-0.1.0.tar.gz", [(f"x-0.1.0/{i}", b"") for i in range(4)])
    with tarfile.open(sdist) as archive, pytest.raises(ArchiveError, match="more than 3 members"):
        list(tar_members(archive, sdist.name, max_members=3))
    with tarfile.open(sdist) as archive:
        assert len(list(tar_members(archive, sdist.name, max_members=4))) == 4


def _made_by_a_backend(path: Path, *, mtime: int, owner: str, order: Sequence[int]) -> Path:
    """One tree as setuptools would pack it on two checkouts: other dates and owners, the
    members in another order, a pax header of its own."""
    members: list[tuple[tarfile.TarInfo, bytes | None]] = []
    for name, data, mode in (
        ("tool-1.0", None, 0o775),
        ("tool-1.0/PKG-INFO", b"Metadata-Version: 2.1\nName: tool\nVersion: 1.0\n", 0o664),
        ("tool-1.0/run.sh", b"#!/bin/sh\n", 0o775),
        ("tool-1.0/tool/__init__.py", b"", 0o600),
    ):
        info = tarfile.TarInfo(name)
        info.type = tarfile.DIRTYPE if data is None else tarfile.REGTYPE
        info.size, info.mode, info.mtime = len(data or b""), mode, mtime
        info.uname = info.gname = owner
        info.uid = info.gid = 1000 if owner else 0
        info.pax_headers = {"atime": str(mtime + 7)}
        members.append((info, data))
    link = tarfile.TarInfo("tool-1.0/latest.sh")
    link.type, link.linkname, link.mtime = tarfile.SYMTYPE, "run.sh", mtime
    members.append((link, None))
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as archive:
        for index in order:
            info, data = members[index]
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def test_the_same_tree_packed_twice_is_one_canonical_sdist(tmp_path: Path) -> None:
    """What makes a git commit's (or a folder's) sdist, and so its build cache key, the
    same on every plan: setuptools dates each member with its file's mtime."""
    first = _made_by_a_backend(tmp_path / "a.tar.gz", mtime=1_764_000_000, owner="", order=range(5))
    second = _made_by_a_backend(
        tmp_path / "b.tar.gz", mtime=1_764_999_999, owner="me", order=(4, 2, 0, 3, 1)
    )
    assert first.read_bytes() != second.read_bytes()

    canonical_tar_gz(first, tmp_path / "canonical-a.tar.gz", mtime=1_700_000_000)
    canonical_tar_gz(second, tmp_path / "canonical-b.tar.gz", mtime=1_700_000_000)

    made = (tmp_path / "canonical-a.tar.gz").read_bytes()
    assert made == (tmp_path / "canonical-b.tar.gz").read_bytes()
    assert gzip.decompress(made)  # one gzip stream
    assert made[4:8] == b"\0\0\0\0"  # no date in the gzip header
    with tarfile.open(tmp_path / "canonical-a.tar.gz") as archive:
        members = archive.getmembers()
        shown = [(m.name, m.mode, m.mtime, m.uid, m.uname, m.linkname) for m in members]
        assert shown == [
            ("tool-1.0", 0o755, 1_700_000_000, 0, "", ""),
            ("tool-1.0/PKG-INFO", 0o644, 1_700_000_000, 0, "", ""),
            ("tool-1.0/latest.sh", 0o644, 1_700_000_000, 0, "", "run.sh"),
            ("tool-1.0/run.sh", 0o755, 1_700_000_000, 0, "", ""),
            ("tool-1.0/tool/__init__.py", 0o644, 1_700_000_000, 0, "", ""),
        ]
        assert [m.pax_headers for m in members] == [{}] * 5
        pkg_info = archive.extractfile("tool-1.0/PKG-INFO")
        assert pkg_info is not None
        assert pkg_info.read() == b"Metadata-Version: 2.1\nName: tool\nVersion: 1.0\n"
        assert members[2].issym()
