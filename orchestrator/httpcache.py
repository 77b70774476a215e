"""An on-disk cache of index pages that revalidates with ETag / Last-Modified.

One small JSON record per page URL holds the validators, the freshness and the page
*already parsed* into release files (not the raw body: PyPI pages of large projects are
megabytes, and a warm plan must load a few hundred of them in a fraction of a second).
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import httpx

from orchestrator.model import ReleaseFile

#: Bump when the record layout or the meaning of its data changes: older records then miss.
RECORD_FORMAT = 1

#: Freshness when a response says nothing about it. PyPI itself sends ``max-age=600``,
#: but some proxies strip ``Cache-Control`` (this is allowed heuristic freshness, RFC 9111 4.2.2).
DEFAULT_MAX_AGE = 600.0


@dataclass(frozen=True, kw_only=True)
class CachedPage:
    """One stored answer of an index: its files, or ``None`` when the index answered 404."""

    files: tuple[ReleaseFile, ...] | None
    etag: str | None = None
    last_modified: str | None = None
    #: When the response was generated (clock time, corrected by its ``Age`` header).
    stored_at: float
    max_age: float

    def is_fresh(self, now: float) -> bool:
        return now - self.stored_at < self.max_age

    def validators(self) -> dict[str, str]:
        """The headers of a conditional request that revalidates this page."""
        headers = {}
        if self.etag is not None:
            headers["If-None-Match"] = self.etag
        if self.last_modified is not None:
            headers["If-Modified-Since"] = self.last_modified
        return headers


class HttpCache:
    """Records under ``directory``, one per URL, named by the URL's sha256."""

    def __init__(
        self,
        directory: Path,
        *,
        clock: Callable[[], float] = time.time,
        default_max_age: float = DEFAULT_MAX_AGE,
    ) -> None:
        self.directory = directory
        self._clock = clock
        self._default_max_age = default_max_age

    def load(self, url: str) -> CachedPage | None:
        """The stored page, or ``None`` when there is none or it cannot be read."""
        return self.load_many([url])[0]

    def load_many(self, urls: Iterable[str]) -> list[CachedPage | None]:
        """``load`` for each URL, in order. A warm plan reads a few hundred thousand files:
        decoding them makes a million small objects and no cycles, so the garbage
        collector is paused meanwhile (it would otherwise take more time than the decoding).
        """
        with _gc_paused():
            return [self._read(url) for url in urls]

    def _read(self, url: str) -> CachedPage | None:
        try:
            return _decode(json.loads(self._path(url).read_bytes()))
        except (OSError, ValueError, TypeError, KeyError):
            return None  # missing, corrupt, or of another format: a miss either way

    def is_fresh(self, page: CachedPage) -> bool:
        return page.is_fresh(self._clock())

    def store(
        self, url: str, files: Sequence[ReleaseFile] | None, headers: httpx.Headers
    ) -> CachedPage | None:
        """Record a 200 (``files``) or a 404 (``None``); ``None`` when the server forbids it."""
        directives = _cache_control(headers)
        if "no-store" in directives:
            return None
        page = CachedPage(
            files=None if files is None else tuple(files),
            etag=headers.get("etag"),
            last_modified=headers.get("last-modified"),
            stored_at=self._response_time(headers),
            max_age=_max_age(directives, self._default_max_age),
        )
        self._write(url, page)
        return page

    def revalidated(self, url: str, page: CachedPage, headers: httpx.Headers) -> CachedPage:
        """Refresh ``page`` after a 304: new time, and whatever validators the 304 updates."""
        directives = _cache_control(headers)
        fresh = replace(
            page,
            etag=headers.get("etag", page.etag),
            last_modified=headers.get("last-modified", page.last_modified),
            stored_at=self._response_time(headers),
            max_age=_max_age(directives, page.max_age),
        )
        if "no-store" not in directives:
            self._write(url, fresh)
        return fresh

    def _path(self, url: str) -> Path:
        return self.directory / f"{hashlib.sha256(url.encode()).hexdigest()}.json"

    def _response_time(self, headers: httpx.Headers) -> float:
        try:
            age = max(0, int(headers.get("age", "0")))
        except ValueError:
            age = 0
        return self._clock() - age

    def _write(self, url: str, page: CachedPage) -> None:
        """Write atomically (temp file + rename): a killed run leaves the old record or none.

        The cache only saves time, so a directory that cannot be written is not an error.
        """
        data = json.dumps(_encode(page), separators=(",", ":")).encode()
        target = self._path(url)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".json")
        except OSError:
            return
        try:
            with os.fdopen(fd, "wb") as stream:
                stream.write(data)
            Path(tmp).replace(target)
        except OSError:
            with contextlib.suppress(OSError):
                Path(tmp).unlink()


def _new_release_file(row: Sequence[Any]) -> ReleaseFile:
    """A ``ReleaseFile`` made by setting its ``__dict__``: identical, and several times faster
    than the frozen dataclass's ``__init__`` (six ``object.__setattr__`` calls)."""
    filename, url, sha256, requires_python, yanked, size = row
    file = object.__new__(ReleaseFile)
    object.__setattr__(
        file,
        "__dict__",
        {
            "filename": filename,
            "url": url,
            "sha256": sha256,
            "requires_python": requires_python,
            "yanked": yanked,
            "size": size,
        },
    )
    return file


def _init_release_file(row: Sequence[Any]) -> ReleaseFile:
    filename, url, sha256, requires_python, yanked, size = row
    return ReleaseFile(
        filename=filename,
        url=url,
        sha256=sha256,
        requires_python=requires_python,
        yanked=yanked,
        size=size,
    )


#: The fast path holds only while ReleaseFile is a plain dataclass with exactly these fields.
_release_file = (
    _new_release_file
    if [f.name for f in fields(ReleaseFile)]
    == ["filename", "url", "sha256", "requires_python", "yanked", "size"]
    and not hasattr(ReleaseFile, "__post_init__")
    and not hasattr(ReleaseFile, "__slots__")
    else _init_release_file
)


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _cache_control(headers: httpx.Headers) -> dict[str, str]:
    directives = {}
    for part in headers.get("cache-control", "").split(","):
        key, _, value = part.strip().partition("=")
        if key:
            directives[key.lower()] = value.strip('"')
    return directives


def _max_age(directives: dict[str, str], default: float) -> float:
    if "no-cache" in directives:
        return 0.0
    try:
        return float(int(directives["max-age"]))
    except (KeyError, ValueError):
        return default


def _encode(page: CachedPage) -> dict[str, Any]:
    files = None
    if page.files is not None:
        files = [
            [f.filename, f.url, f.sha256, f.requires_python, f.yanked, f.size] for f in page.files
        ]
    return {
        "format": RECORD_FORMAT,
        "etag": page.etag,
        "last_modified": page.last_modified,
        "stored_at": page.stored_at,
        "max_age": page.max_age,
        "files": files,
    }


def _decode(record: Any) -> CachedPage | None:
    if not isinstance(record, dict) or record.get("format") != RECORD_FORMAT:
        return None
    rows = record["files"]
    return CachedPage(
        files=None if rows is None else tuple(map(_release_file, rows)),
        etag=record["etag"],
        last_modified=record["last_modified"],
        stored_at=float(record["stored_at"]),
        max_age=float(record["max_age"]),
    )
