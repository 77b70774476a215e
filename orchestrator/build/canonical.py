"""Byte-reproducible wheels: the build's ``SOURCE_DATE_EPOCH`` and the canonical rewrite.

The rule for the time (README "Reproducible wheels"): ``SOURCE_DATE_EPOCH`` is the newest
mtime among the sdist's members, never before 1980-01-01 (a zip entry cannot say earlier).
It is a property of the input alone, so two builds of the same sdist agree on it, and it
moves only when the upstream release does.

After ``auditwheel repair`` (or ``pip wheel`` for a pure wheel) each wheel is written again
with what an archiver chooses fixed: entries sorted by name with the ``.dist-info``
directory last (as the wheel spec recommends, ``RECORD`` at the very end), no directory
entries, every timestamp ``SOURCE_DATE_EPOCH``, modes 0644 or 0755 (executable if it was),
deflate at level 9, and ``RECORD`` computed again for the bytes written.
"""

from __future__ import annotations

import base64
import calendar
import csv
import hashlib
import io
import os
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from orchestrator.archives import ArchiveError, tar_members

#: 1980-01-01T00:00:00Z, the earliest time a zip entry holds.
ZIP_EPOCH = 315532800
COMPRESS_LEVEL = 9
_FILE_MODE = 0o100644
_EXEC_MODE = 0o100755


class CanonicalError(ValueError):
    """The archive cannot be read (not a zip, not a tar, damaged)."""


def sdist_epoch(sdist: Path) -> int:
    """The newest member mtime of a ``.tar.*`` or ``.zip`` sdist, clamped to 1980."""
    try:
        if zipfile.is_zipfile(sdist):
            with zipfile.ZipFile(sdist) as zipped:
                times = [_zip_time(i.date_time) for i in zipped.infolist()]
        else:
            with tarfile.open(sdist) as archive:
                times = [int(m.mtime) for m in tar_members(archive, sdist.name)]
    except (OSError, tarfile.TarError, zipfile.BadZipFile, EOFError, ArchiveError) as exc:
        raise CanonicalError(f"{sdist.name}: cannot read the sdist's members: {exc}") from exc
    return clamp(max(times, default=ZIP_EPOCH))


def clamp(epoch: int) -> int:
    return max(epoch, ZIP_EPOCH)


def _zip_time(date_time: tuple[int, int, int, int, int, int]) -> int:
    # Zip times carry no zone: read as UTC, the same on every host.
    return calendar.timegm((*date_time, 0, 0, 0))


@dataclass(frozen=True, kw_only=True)
class _Member:
    name: str
    data: bytes
    executable: bool


def canonicalize(wheel: Path, epoch: int) -> None:
    """Rewrite ``wheel`` in place (atomically) in the canonical form described above."""
    members = _read(wheel)
    record = _record_name(wheel, members)
    body = [m for m in members if m.name != record]
    body.sort(key=lambda m: _order(m.name))
    body.append(_Member(name=record, data=_record(body, record), executable=False))
    utc = time.gmtime(clamp(epoch))
    stamp = (utc.tm_year, utc.tm_mon, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec)
    fd, temp = tempfile.mkstemp(prefix=".canonical-", suffix=".whl", dir=wheel.parent)
    try:
        # mkstemp makes the file 0600; a wheelhouse is read by whoever serves or installs it.
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w") as out:
            for member in body:
                out.writestr(
                    _info(member, stamp),
                    member.data,
                    compress_type=zipfile.ZIP_DEFLATED,
                    compresslevel=COMPRESS_LEVEL,
                )
        Path(temp).replace(wheel)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _read(wheel: Path) -> list[_Member]:
    try:
        with zipfile.ZipFile(wheel) as zipped:
            return [
                _Member(name=i.filename, data=zipped.read(i), executable=_is_exec(i))
                for i in zipped.infolist()
                if not i.is_dir()
            ]
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise CanonicalError(f"{wheel.name}: not a readable wheel: {exc}") from exc


def _is_exec(info: zipfile.ZipInfo) -> bool:
    return info.create_system == 3 and bool((info.external_attr >> 16) & 0o111)


def _record_name(wheel: Path, members: Iterable[_Member]) -> str:
    records = [m.name for m in members if _is_record(m.name)]
    if len(records) != 1:
        raise CanonicalError(f"{wheel.name}: expected one .dist-info/RECORD, found {records}")
    return records[0]


def _is_record(name: str) -> bool:
    top, _, rest = name.partition("/")
    return top.endswith(".dist-info") and rest == "RECORD"


def _order(name: str) -> tuple[bool, str]:
    """Everything else first, then the top ``.dist-info`` directory; each by name."""
    return name.partition("/")[0].endswith(".dist-info"), name


def _record(members: Iterable[_Member], record: str) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    for member in members:
        digest = base64.urlsafe_b64encode(hashlib.sha256(member.data).digest()).rstrip(b"=")
        writer.writerow((member.name, f"sha256={digest.decode()}", len(member.data)))
    writer.writerow((record, "", ""))
    return text.getvalue().encode("utf-8")


def _info(member: _Member, stamp: tuple[int, int, int, int, int, int]) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(member.name, date_time=stamp)
    info.create_system = 3
    info.external_attr = (_EXEC_MODE if member.executable else _FILE_MODE) << 16
    return info
