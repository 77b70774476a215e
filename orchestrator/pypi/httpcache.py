"""An on-disk cache of index pages that revalidates with ETag / Last-Modified.

One file per page URL holds the page *already parsed* into release files (not the raw
body: PyPI pages of large projects are megabytes), grouped by release, so that a warm
plan reads and decodes only the releases it pins (a few thousand files of the few
hundred thousand its pages list). A record is one line of JSON, the header (validators,
freshness, and where each release's slice lies), then the slices, one JSON array each::

    {"format":2,"generation":"…","etag":…,"size":N,"releases":["1","1.1",""],"ends":[…],…}
    [[filename,url,sha256,requires_python,yanked,size],…][[…]]…

The slice of release ``releases[i]`` is ``body[ends[i-1]:ends[i]]``; files whose name
spells no valid version are in the slice ``""``. Header and slices are written together,
to a temporary file renamed over the record, so a killed run leaves the old record or the
new one, never a header that describes other slices. Releases are keyed by the version
spelled canonically (``1.0`` and ``1.0.0`` are the same release, as ``Version`` says).
"""

from __future__ import annotations

import contextlib
import functools
import gc
import hashlib
import itertools
import json
import os
import secrets
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, BinaryIO

import httpx
from packaging.utils import canonicalize_version
from packaging.version import InvalidVersion, Version

from orchestrator.filenames import version_text
from orchestrator.model import ReleaseFile
from orchestrator.paths import write_atomically

#: Bump when the record layout or the meaning of its data changes: older records then miss.
RECORD_FORMAT = 3

#: Freshness when a response says nothing about it. PyPI itself sends ``max-age=600``,
#: but some proxies strip ``Cache-Control`` (this is allowed heuristic freshness, RFC 9111 4.2.2).
DEFAULT_MAX_AGE = 600.0

#: The releases a caller needs of a page; ``None`` for every file of the page.
Versions = Collection[Version] | None

#: How every record of this format begins (``json.dumps`` keeps the header's key order):
#: a record of another format is a miss before anything else of it is read.
_PREFIX = b'{"format":%d,' % RECORD_FORMAT
#: The first read of a record: the header and, for most pages, the slices it needs.
_CHUNK = 1 << 16


@dataclass(frozen=True, kw_only=True)
class CachedPage:
    """One stored answer of an index: its files, or ``None`` when the index answered 404.

    ``files`` holds the files of the releases that were asked for, in the index's order
    (all of them when none were named); a release the page lacks adds no file.
    """

    files: tuple[ReleaseFile, ...] | None
    etag: str | None = None
    last_modified: str | None = None
    #: When the response was generated (clock time, corrected by its ``Age`` header).
    stored_at: float
    max_age: float
    #: Names the stored slices: a 304 rewrites the header only over these same slices.
    generation: str = ""

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

    def load(self, url: str, versions: Versions = None) -> CachedPage | None:
        """The stored page (the files of ``versions`` only, when given), or ``None`` when
        there is none or it cannot be read."""
        return self.load_many([url], [versions])[0]

    def load_many(
        self, urls: Iterable[str], versions: Iterable[Versions] | None = None
    ) -> list[CachedPage | None]:
        """``load`` for each URL, in order, with the matching item of ``versions``.

        Decoding files makes many small objects and no cycles, so the garbage collector
        is paused meanwhile (it would otherwise take more time than the decoding).
        """
        urls = list(urls)
        wanted = [None] * len(urls) if versions is None else [_keys(v) for v in versions]
        with _gc_paused():
            return [self._read(url, w) for url, w in zip(urls, wanted, strict=True)]

    def _read(self, url: str, wanted: frozenset[str] | None) -> CachedPage | None:
        try:
            with self._path(url).open("rb", buffering=0) as stream:
                return _read_record(stream, wanted)
        except (OSError, ValueError, TypeError, KeyError, IndexError):
            return None  # missing, corrupt, or of another format: a miss either way

    def is_fresh(self, page: CachedPage) -> bool:
        return page.is_fresh(self._clock())

    def store(
        self,
        url: str,
        files: Sequence[ReleaseFile] | None,
        headers: httpx.Headers,
        *,
        versions: Versions = None,
    ) -> CachedPage:
        """Record a 200 (``files``) or a 404 (``None``), unless the server forbids it.

        Returns the page as ``load(url, versions)`` would return it.
        """
        directives = _cache_control(headers)
        releases = None if files is None else _Releases(files)
        page = CachedPage(
            files=None if releases is None else releases.select(_keys(versions)),
            etag=headers.get("etag"),
            last_modified=headers.get("last-modified"),
            stored_at=self._response_time(headers),
            max_age=_max_age(directives, self._default_max_age),
            generation=secrets.token_hex(8),
        )
        if "no-store" not in directives:
            header, body = _encode(page, releases)
            self._write(url, header + b"\n" + body)
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
            self._rewrite_header(url, fresh)
        return fresh

    def _rewrite_header(self, url: str, page: CachedPage) -> None:
        """Store ``page``'s validators and time over the slices it was read from, unless the
        record now holds other slices (another run stored the page meanwhile: it is newer)."""
        try:
            data = self._path(url).read_bytes()
            end = data.index(b"\n")
            header = json.loads(data[:end]) if data.startswith(_PREFIX) else None
        except (OSError, ValueError):
            return
        body = data[end + 1 :]
        if (
            not isinstance(header, dict)
            or header.get("generation") != page.generation
            or header.get("size") != len(body)
        ):
            return
        header.update(_meta(page))
        self._write(url, _dump(header) + b"\n" + body)

    def _path(self, url: str) -> Path:
        return self.directory / f"{hashlib.sha256(url.encode()).hexdigest()}.json"

    def _response_time(self, headers: httpx.Headers) -> float:
        try:
            age = max(0, int(headers.get("age", "0")))
        except ValueError:
            age = 0
        return self._clock() - age

    def _write(self, url: str, data: bytes) -> None:
        """Write atomically: a killed run leaves the old record or none. The cache only
        saves time, so a directory that cannot be written is not an error."""
        with contextlib.suppress(OSError):
            write_atomically(self._path(url), data)


# --- releases -----------------------------------------------------------------------


def release_key(version: Version) -> str:
    """The key of a release in a record: equal versions (``1.0``, ``1.0.0``) share one."""
    return canonicalize_version(version)


def files_of(files: Sequence[ReleaseFile], versions: Versions) -> tuple[ReleaseFile, ...]:
    """The files of ``versions`` (all of them for ``None``), as a record would give them."""
    return _Releases(files).select(_keys(versions))


def _keys(versions: Versions) -> frozenset[str] | None:
    return None if versions is None else frozenset(map(release_key, versions))


@functools.lru_cache(maxsize=1 << 14)  # pages of related projects share their versions
def _text_key(text: str) -> str:
    try:
        return release_key(Version(text))
    except InvalidVersion:
        return ""


class _Releases:
    """The files of a page, each with the key of its release."""

    def __init__(self, files: Sequence[ReleaseFile]) -> None:
        self.files = tuple(files)
        known: dict[str, str] = {}  # version text -> key: each spelling is parsed once
        keys = []
        for file in self.files:
            text = version_text(file.filename)
            key = known.get(text)
            if key is None:
                key = known[text] = _text_key(text)
            keys.append(key)
        self.keys = keys

    def select(self, wanted: frozenset[str] | None) -> tuple[ReleaseFile, ...]:
        if wanted is None:
            return self.files
        return tuple(f for f, key in zip(self.files, self.keys, strict=True) if key in wanted)

    def encode(self) -> tuple[list[str], list[int], list[list[int]] | None, bytes]:
        """The release keys (by first appearance), where each slice ends, the runs of the
        index's order (``None`` when each release's files are contiguous), and the slices."""
        slices: dict[str, list[list[Any]]] = {}
        numbers: dict[str, int] = {}
        runs: list[list[int]] = []
        for file, key in zip(self.files, self.keys, strict=True):
            rows = slices.get(key)
            if rows is None:
                rows = slices[key] = []
                numbers[key] = len(numbers)
            rows.append(_row(file))
            number = numbers[key]
            if runs and runs[-1][0] == number:
                runs[-1][1] += 1
            else:
                runs.append([number, 1])
        parts = [_dump(rows) for rows in slices.values()]
        ends = list(itertools.accumulate(map(len, parts)))
        return list(slices), ends, (runs if len(runs) > len(slices) else None), b"".join(parts)


# --- records ------------------------------------------------------------------------


def _row(file: ReleaseFile) -> list[Any]:
    return [
        file.filename,
        file.url,
        file.sha256,
        file.requires_python,
        file.yanked,
        file.size,
        file.core_metadata,
    ]


def _dump(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _meta(page: CachedPage) -> dict[str, Any]:
    return {
        "etag": page.etag,
        "last_modified": page.last_modified,
        "stored_at": page.stored_at,
        "max_age": page.max_age,
    }


def _encode(page: CachedPage, releases: _Releases | None) -> tuple[bytes, bytes]:
    """The header line (without its newline) and the body of a record."""
    keys = ends = runs = None
    body = b""
    if releases is not None:
        keys, ends, runs, body = releases.encode()
    header = {
        "format": RECORD_FORMAT,
        "generation": page.generation,
        **_meta(page),
        "size": len(body),
        "releases": keys,
        "ends": ends,
        "runs": runs,
    }
    return _dump(header), body


def _read_record(stream: BinaryIO, wanted: frozenset[str] | None) -> CachedPage | None:
    """Read the header, then the slices of the ``wanted`` releases (all for ``None``).

    Raises ``ValueError`` (or ``TypeError``, ``KeyError``, ``IndexError``) for a record
    that is truncated or not of this format's shape.
    """
    data = stream.read(_CHUNK)
    if not data.startswith(_PREFIX):
        return None
    end = data.find(b"\n")
    while end < 0:
        more = stream.read(_CHUNK)
        if not more:
            raise ValueError("the header does not end")
        searched = len(data)
        data += more
        end = data.find(b"\n", searched)
    header = json.loads(data[:end])
    base = end + 1
    if os.fstat(stream.fileno()).st_size != base + header["size"]:
        raise ValueError("the record is not as long as its header says")
    page = CachedPage(
        files=None,
        etag=header["etag"],
        last_modified=header["last_modified"],
        stored_at=float(header["stored_at"]),
        max_age=float(header["max_age"]),
        generation=header["generation"],
    )
    keys: list[str] | None = header["releases"]
    if keys is None:
        return page
    ends: list[int] = header["ends"]
    numbers = range(len(keys)) if wanted is None else [i for i, k in enumerate(keys) if k in wanted]
    slices: dict[int, list[ReleaseFile]] = {}
    for number in numbers:
        start, stop = base + (ends[number - 1] if number else 0), base + ends[number]
        if stop <= len(data):
            chunk = data[start:stop]
        else:
            stream.seek(start)
            chunk = stream.read(stop - start)
            if len(chunk) != stop - start:
                raise ValueError("a slice is cut short")
        slices[number] = list(map(_release_file, json.loads(chunk)))
    runs: list[list[int]] | None = header["runs"]
    if runs is None or len(slices) < 2:
        files = tuple(itertools.chain.from_iterable(slices.values()))
    else:  # releases interleave in the index's order: restore it
        pending = {number: iter(rows) for number, rows in slices.items()}
        files = tuple(
            itertools.chain.from_iterable(
                itertools.islice(pending[number], count)
                for number, count in runs
                if number in pending
            )
        )
    return replace(page, files=files)


def _new_release_file(row: Sequence[Any]) -> ReleaseFile:
    """A ``ReleaseFile`` made by setting its ``__dict__``: identical, and several times faster
    than the frozen dataclass's ``__init__`` (six ``object.__setattr__`` calls)."""
    filename, url, sha256, requires_python, yanked, size, core_metadata = row
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
            "core_metadata": core_metadata,
        },
    )
    return file


def _init_release_file(row: Sequence[Any]) -> ReleaseFile:
    filename, url, sha256, requires_python, yanked, size, core_metadata = row
    return ReleaseFile(
        filename=filename,
        url=url,
        sha256=sha256,
        requires_python=requires_python,
        yanked=yanked,
        size=size,
        core_metadata=core_metadata,
    )


#: The fast path holds only while ReleaseFile is a plain dataclass with exactly these fields.
_release_file = (
    _new_release_file
    if [f.name for f in fields(ReleaseFile)]
    == ["filename", "url", "sha256", "requires_python", "yanked", "size", "core_metadata"]
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
