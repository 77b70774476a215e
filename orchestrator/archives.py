"""Sdists are untrusted archives: what wheelhouse reads of them on the host is bounded.

The host opens an sdist for three things: its ``PKG-INFO`` (metadata), its top-level
``pyproject.toml`` (build requirements) and, for a Rust sdist, the whole tree unpacked
for ``cargo vendor``. A member read into memory is capped (a "pyproject.toml" of 10 GB
compressed to a few KB is refused, not read); unpacking is capped in members and bytes
(counted from the headers as they come, so a bomb is refused before it is written) and a
tar is unpacked with tarfile's ``data`` filter: no absolute path, no ``..``, no link out
of the tree, no device file or FIFO, no setuid bit. zipfile drops ``..`` and absolute
paths itself and writes a symlink member as a plain file. Every reader that walks a tar's
headers (PKG-INFO, pyproject.toml, member names, SOURCE_DATE_EPOCH's newest mtime) walks
them through ``tar_members``, under the same bounds. The builds themselves unpack
the sdist inside their container (``--network=none``), never on the host.

An sdist wheelhouse makes itself (of a folder or a git commit) is rewritten by
``canonical_tar_gz``: a backend such as setuptools stamps each member with its file's
mtime (a fresh checkout's, or the egg-info it has just written), so the same tree would
give a new sha256, and a new build cache key, on every plan.
"""

from __future__ import annotations

import gzip
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

MIB = 1 << 20
#: One member read into memory (pyproject.toml, PKG-INFO); real ones are a few KiB.
MAX_MEMBER_BYTES = 8 * MIB
#: An sdist unpacked on the host (cargo vendor): the largest real ones are ~200 MiB.
MAX_UNPACKED_BYTES = 1024 * MIB
MAX_MEMBERS = 100_000


class ArchiveError(ValueError):
    """The sdist is refused: a member or the whole is over its bound, or unsafe."""


def read_at_most(handle: IO[bytes], what: str, limit: int = MAX_MEMBER_BYTES) -> bytes:
    """``handle``'s bytes, refusing more than ``limit`` (read ``limit + 1``, not all)."""
    data = handle.read(limit + 1)
    if len(data) > limit:
        raise ArchiveError(f"{what} is larger than {_size(limit)}: refused")
    return data


def extract(
    sdist: Path,
    into: Path,
    *,
    limit: int = MAX_UNPACKED_BYTES,
    max_members: int = MAX_MEMBERS,
) -> None:
    """Unpack ``sdist`` (.zip or a tar) into ``into``, within the bounds, safely.

    Raises ``ArchiveError`` over a bound, ``tarfile.TarError`` (``FilterError`` for an
    unsafe member) or ``zipfile.BadZipFile`` for a broken or hostile archive."""
    if sdist.name.endswith(".zip"):
        with zipfile.ZipFile(sdist) as archive:
            infos = archive.infolist()
            _check(sdist.name, len(infos), sum(i.file_size for i in infos), limit, max_members)
            archive.extractall(into)
        return
    with tarfile.open(sdist) as archive:
        members = list(tar_members(archive, sdist.name, limit=limit, max_members=max_members))
        archive.extractall(into, members=members, filter="data")


def tar_members(
    archive: tarfile.TarFile,
    what: str,
    *,
    limit: int = MAX_UNPACKED_BYTES,
    max_members: int = MAX_MEMBERS,
) -> Iterator[tarfile.TarInfo]:
    """``archive``'s members one header at a time, for a reader that stops at the one it
    wants or walks them all: ``ArchiveError`` as soon as the count or the sizes the
    headers give pass a bound, before a bomb's data is decompressed to skip it."""
    total = 0
    for count, member in enumerate(archive, start=1):
        total += member.size if member.isfile() else 0
        _check(what, count, total, limit, max_members)
        yield member


def _check(what: str, count: int, total: int, limit: int, max_members: int) -> None:
    if count > max_members:
        raise ArchiveError(f"{what} has more than {max_members} members: refused")
    if total > limit:
        raise ArchiveError(f"{what} unpacks to more than {_size(limit)}: refused")


def _size(limit: int) -> str:
    return f"{limit // MIB} MiB" if limit >= MIB else f"{limit} bytes"


def canonical_tar_gz(source: Path, dest: Path, *, mtime: int) -> None:
    """``source`` (a tar) rewritten to ``dest`` so that the same members give the same
    bytes: sorted by name, every date ``mtime``, owners 0 and unnamed, modes 0644 or 0755
    (0755: directories and executables), a PAX tar in a gzip stream with no name or date
    in its header. Contents, names and links are kept as they are."""
    with tarfile.open(source) as archive, dest.open("wb") as raw:
        members = sorted(tar_members(archive, source.name), key=lambda m: m.name)
        with (
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as stream,
            tarfile.open(fileobj=stream, mode="w", format=tarfile.PAX_FORMAT) as out,
        ):
            for member in members:
                data = archive.extractfile(member) if member.isfile() else None
                out.addfile(_canonical(member, mtime), data)


def _canonical(member: tarfile.TarInfo, mtime: int) -> tarfile.TarInfo:
    executable = member.isdir() or member.mode & 0o111
    canonical = member.replace(
        mtime=mtime,
        mode=0o755 if executable else 0o644,
        uid=0,
        gid=0,
        uname="",
        gname="",
        deep=False,
    )
    canonical.pax_headers = {}  # a backend's own (atime, ctime...); the fields are rewritten
    return canonical
