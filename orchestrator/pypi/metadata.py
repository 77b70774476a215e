"""Core metadata (``Requires-Dist``) of release files, without downloading wheels if it can.

Routes, cheapest first, for a wheel:

1. the index advertises PEP 658/714 ``core-metadata``: ``GET <file-url>.metadata``, checked
   against the advertised sha256;
2. it does not (some proxies and mirrors drop the key, yet serve the file): the same URL
   is probed, and a 404 falls through;
3. HTTP range requests on the wheel, as pip's lazy wheel does: the zip's end of central
   directory, its central directory, then the ``*.dist-info/METADATA`` entry alone;
4. the whole wheel, when the server answers ranges with the whole file or not at all.

An sdist is downloaded and its ``PKG-INFO`` read; unless it is metadata 2.2+ and does
not mark ``Requires-Dist`` dynamic, its dependencies are only what the sdist says
(``dynamic``): the built wheel's metadata is the real answer.

Answers are cached on disk under the file's sha256 (``<cache>/metadata``): a file with a
given hash never changes, so unlike index pages a record is never revalidated.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import hashlib
import io
import json
import re
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import httpx
from packaging.version import InvalidVersion, Version

from orchestrator import __version__
from orchestrator.archives import ArchiveError, read_at_most, tar_members
from orchestrator.errors import IndexUnavailableError
from orchestrator.model import ReleaseFile
from orchestrator.paths import write_atomically
from orchestrator.pypi.localfiles import is_file_url, local_response
from orchestrator.pypi.retry import Refusals

Route = Literal["core-metadata", "metadata-url", "range", "download", "sdist"]
_FORMAT = 1
_TAIL = 1 << 16
_METADATA_ENTRY = re.compile(r"^[^/]+\.dist-info/METADATA$")
_EOCD = struct.Struct("<4s4H2LH")
_CENTRAL = struct.Struct("<4s6H3L5H2L")
_LOCAL = struct.Struct("<4s5H3L2H")


@dataclass(frozen=True, kw_only=True)
class CoreMetadata:
    """What the closure check needs of one file's metadata."""

    name: str
    version: str
    requires_dist: tuple[str, ...]
    #: True for an sdist whose PKG-INFO may not hold the built wheel's dependencies.
    dynamic: bool = False
    #: How it was read (for tests and the cost figures).
    route: Route = "download"


class MetadataError(Exception):
    """A file whose metadata cannot be read: a sentence for the error row."""


class MetadataClient:
    """Reads the core metadata of many release files at once (bounded concurrency)."""

    def __init__(
        self,
        *,
        cache_dir: Path | None,
        transport: httpx.AsyncBaseTransport | None = None,
        max_concurrency: int = 16,
        timeout: float = 30.0,
        retries: int = 2,
        progress: Callable[[ReleaseFile], None] | None = None,
    ) -> None:
        self._cache_dir = cache_dir
        self._transport = transport
        self._max_concurrency = max_concurrency
        self._timeout = timeout
        self._tries = retries + 1
        self._progress = progress

    def get_many_sync(
        self, files: Iterable[ReleaseFile]
    ) -> dict[str, CoreMetadata | MetadataError]:
        """Each file's metadata (or why it could not be read), by file URL."""
        result: dict[str, CoreMetadata | MetadataError] = {}

        async def fetch() -> None:
            result.update(await self.get_many(files))

        asyncio.run(fetch())
        return result

    async def get_many(
        self, files: Iterable[ReleaseFile]
    ) -> dict[str, CoreMetadata | MetadataError]:
        wanted = {f.url: f for f in files}
        found: dict[str, CoreMetadata | MetadataError] = {}
        missing = []
        for url, file in wanted.items():
            cached = self._load(file)
            if cached is not None:
                found[url] = cached
            else:
                missing.append(file)
        if missing:
            semaphore = asyncio.Semaphore(self._max_concurrency)
            async with self._open_client() as client:
                answers = await asyncio.gather(*(self._one(client, semaphore, f) for f in missing))
            found.update(zip((f.url for f in missing), answers, strict=True))
        return found

    def _open_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=self._transport,
            timeout=self._timeout,
            limits=httpx.Limits(max_connections=self._max_concurrency),
            follow_redirects=True,
            headers={"User-Agent": f"wheelhouse/{__version__}"},
        )

    async def _one(
        self, client: httpx.AsyncClient, semaphore: asyncio.Semaphore, file: ReleaseFile
    ) -> CoreMetadata | MetadataError:
        fetcher = _Fetcher(client, semaphore, self._tries)
        try:
            metadata = await (_wheel(fetcher, file) if file.is_wheel else _sdist(fetcher, file))
        except MetadataError as exc:
            return exc
        self._store(file, metadata)
        if self._progress is not None:
            self._progress(file)
        return metadata

    def _path(self, file: ReleaseFile) -> Path | None:
        if self._cache_dir is None:
            return None
        key = file.sha256 or hashlib.sha256(file.url.encode()).hexdigest()
        return self._cache_dir / f"{key}.json"

    def _load(self, file: ReleaseFile) -> CoreMetadata | None:
        path = self._path(file)
        if path is None:
            return None
        try:
            data = json.loads(path.read_bytes())
            if data.pop("format") != _FORMAT:
                return None
            data["requires_dist"] = tuple(data["requires_dist"])
            return CoreMetadata(**data)
        except (OSError, ValueError, TypeError, KeyError):
            return None  # absent, corrupt or of another shape: read it again

    def _store(self, file: ReleaseFile, metadata: CoreMetadata) -> None:
        path = self._path(file)
        if path is None:
            return
        record = {"format": _FORMAT, **asdict(metadata)}
        record["requires_dist"] = list(metadata.requires_dist)
        # A cache that cannot be written only costs the next run a fetch.
        with contextlib.suppress(OSError):
            write_atomically(path, json.dumps(record).encode())


class _Fetcher:
    """GETs with retries on 5xx and dropped connections, and the shared rule for a refused
    connection (pypi.retry); network failures become ``IndexUnavailableError`` (exit 7), as
    for index pages."""

    def __init__(self, client: httpx.AsyncClient, semaphore: asyncio.Semaphore, tries: int):
        self.client = client
        self.semaphore = semaphore
        self.tries = tries

    async def get(self, url: str, headers: dict[str, str] | None = None) -> httpx.Response:
        if is_file_url(url):
            return local_response(url)
        cause = ""
        refusals = Refusals()
        for attempt in range(self.tries):
            try:
                async with self.semaphore:
                    response = await self.client.get(url, headers=headers)
            except httpx.TransportError as exc:
                cause = f"{type(exc).__name__}: {exc}"
                if refusals.note(exc):
                    break
            else:
                if response.status_code < 500 and response.status_code != 429:
                    return response
                cause = f"HTTP {response.status_code}"
            if attempt + 1 < self.tries:
                await asyncio.sleep(0.5 * 2**attempt)
        raise IndexUnavailableError(
            f"{_name_of(url)} could not be fetched for its metadata: {cause}",
            hint="check the network and any proxy (HTTPS_PROXY), and the index URL",
        )


async def _wheel(fetcher: _Fetcher, file: ReleaseFile) -> CoreMetadata:
    metadata = await _metadata_file(fetcher, file)
    if metadata is not None:
        return metadata
    ranged = await _by_ranges(fetcher, file)
    if ranged is not None:
        return ranged
    response = await fetcher.get(file.url)
    if response.status_code != 200:
        raise MetadataError(f"{file.filename}: HTTP {response.status_code} for the wheel")
    _check_sha256(file, response.content)
    try:
        with zipfile.ZipFile(io.BytesIO(response.content)) as wheel:
            entry = next(n for n in wheel.namelist() if _METADATA_ENTRY.match(n))
            return parse_metadata(wheel.read(entry), route="download")
    except (zipfile.BadZipFile, StopIteration) as exc:
        raise MetadataError(f"{file.filename}: not a wheel with a METADATA file") from exc


async def _metadata_file(fetcher: _Fetcher, file: ReleaseFile) -> CoreMetadata | None:
    """PEP 658: ``<url>.metadata``, advertised or probed; ``None`` when it is not served."""
    response = await fetcher.get(file.url + ".metadata")
    if response.status_code != 200:
        return None
    body = response.content
    advertised = file.core_metadata
    if advertised and hashlib.sha256(body).hexdigest() != advertised:
        return None  # a mirror's stale or broken copy: read the wheel itself
    route: Route = "core-metadata" if advertised is not None else "metadata-url"
    try:
        return parse_metadata(body, route=route)
    except MetadataError:
        return None


async def _by_ranges(fetcher: _Fetcher, file: ReleaseFile) -> CoreMetadata | None:
    """The METADATA entry read with range requests; ``None`` when ranges are not served."""
    tail = await fetcher.get(file.url, {"Range": f"bytes=-{_TAIL}"})
    total = _total_size(tail)
    if tail.status_code != 206 or total is None:
        return None
    data, start = tail.content, total - len(tail.content)
    eocd_at = data.rfind(b"PK\x05\x06")
    if eocd_at < 0 or len(data) - eocd_at < _EOCD.size:
        return None
    *_, cd_size, cd_offset, _comment = _EOCD.unpack_from(data, eocd_at)
    if cd_offset == 0xFFFFFFFF:
        return None  # zip64: the whole file is simpler
    if cd_offset < start:
        more = await _range(fetcher, file.url, cd_offset, start - 1)
        if more is None:
            return None
        data, start = more + data, cd_offset
    entry = _find_entry(data, cd_offset - start, cd_size)
    if entry is None:
        raise MetadataError(f"{file.filename}: the wheel has no *.dist-info/METADATA")
    method, size, offset, name_len = entry
    chunk = await _range(fetcher, file.url, offset, offset + _LOCAL.size + name_len + 1024 + size)
    if chunk is None:
        return None
    return parse_metadata(_local_entry(file, chunk, method, size), route="range")


async def _range(fetcher: _Fetcher, url: str, first: int, last: int) -> bytes | None:
    response = await fetcher.get(url, {"Range": f"bytes={first}-{last}"})
    return response.content if response.status_code == 206 else None


def _total_size(response: httpx.Response) -> int | None:
    match = re.fullmatch(r"bytes \d+-\d+/(\d+)", response.headers.get("content-range", ""))
    return int(match[1]) if match else None


def _find_entry(data: bytes, at: int, size: int) -> tuple[int, int, int, int] | None:
    """(method, compressed size, local header offset, name length) of METADATA."""
    end = at + size
    while at + _CENTRAL.size <= end:
        fields = _CENTRAL.unpack_from(data, at)
        if fields[0] != b"PK\x01\x02":
            return None
        method, size_c, name_len, extra_len, comment_len, offset = (
            fields[4],
            fields[8],
            fields[10],
            fields[11],
            fields[12],
            fields[16],
        )
        name = data[at + _CENTRAL.size : at + _CENTRAL.size + name_len].decode("utf-8", "replace")
        if _METADATA_ENTRY.match(name):
            return method, size_c, offset, name_len
        at += _CENTRAL.size + name_len + extra_len + comment_len
    return None


def _local_entry(file: ReleaseFile, chunk: bytes, method: int, size: int) -> bytes:
    fields = _LOCAL.unpack_from(chunk, 0)
    if fields[0] != b"PK\x03\x04":
        raise MetadataError(f"{file.filename}: a broken zip entry for METADATA")
    start = _LOCAL.size + fields[9] + fields[10]
    raw = chunk[start : start + size]
    if method == zipfile.ZIP_STORED:
        return raw
    if method == zipfile.ZIP_DEFLATED:
        return zlib.decompress(raw, -15)
    raise MetadataError(f"{file.filename}: METADATA is compressed with method {method}")


async def _sdist(fetcher: _Fetcher, file: ReleaseFile) -> CoreMetadata:
    response = await fetcher.get(file.url)
    if response.status_code != 200:
        raise MetadataError(f"{file.filename}: HTTP {response.status_code} for the sdist")
    _check_sha256(file, response.content)
    pkg_info = sdist_pkg_info(file.filename, response.content)
    metadata = parse_metadata(pkg_info, route="sdist")
    return CoreMetadata(
        name=metadata.name,
        version=metadata.version,
        requires_dist=metadata.requires_dist,
        dynamic=_is_dynamic(pkg_info),
        route="sdist",
    )


def sdist_pkg_info(filename: str, content: bytes) -> bytes:
    """The top-level ``PKG-INFO`` of an sdist (``.tar.gz`` or ``.zip``)."""
    try:
        if filename.endswith(".zip"):
            with zipfile.ZipFile(io.BytesIO(content)) as archive:
                names = [n for n in archive.namelist() if n.count("/") == 1]
                name = next(n for n in names if n.endswith("/PKG-INFO"))
                with archive.open(name) as handle:
                    return read_at_most(handle, f"{filename}: {name}")
        with tarfile.open(fileobj=io.BytesIO(content)) as archive:
            member = next(
                m
                for m in tar_members(archive, filename)
                if m.name.count("/") == 1 and m.name.endswith("/PKG-INFO")
            )
            extracted = archive.extractfile(member)
            if extracted is None:
                raise StopIteration
            return read_at_most(extracted, f"{filename}: {member.name}")
    except (tarfile.TarError, zipfile.BadZipFile, StopIteration, OSError) as exc:
        raise MetadataError(f"{filename}: no PKG-INFO at the top of the sdist") from exc
    except ArchiveError as exc:
        raise MetadataError(f"{exc} (a broken or hostile sdist)") from None


def parse_metadata(data: bytes, *, route: Route) -> CoreMetadata:
    """Name, version and ``Requires-Dist`` of a METADATA / PKG-INFO file."""
    message = email.message_from_bytes(data, policy=email.policy.compat32)
    name, version = message.get("Name"), message.get("Version")
    if not name or not version:
        raise MetadataError("the metadata has no Name or Version")
    return CoreMetadata(
        name=str(name),
        version=str(version),
        requires_dist=tuple(str(r) for r in message.get_all("Requires-Dist") or ()),
        route=route,
    )


def _is_dynamic(pkg_info: bytes) -> bool:
    """PEP 643: an sdist's Requires-Dist is reliable from metadata 2.2 unless marked dynamic."""
    message = email.message_from_bytes(pkg_info, policy=email.policy.compat32)
    try:
        version = Version(str(message.get("Metadata-Version", "1.0")))
    except InvalidVersion:
        return True
    dynamic = {str(d).strip().lower() for d in message.get_all("Dynamic") or ()}
    return version < Version("2.2") or "requires-dist" in dynamic


def _check_sha256(file: ReleaseFile, content: bytes) -> None:
    if file.sha256 and hashlib.sha256(content).hexdigest() != file.sha256:
        raise MetadataError(f"{file.filename}: its sha256 is not the index's")


def _name_of(url: str) -> str:
    return url.rsplit("/", 1)[-1].split("#", 1)[0]


def routes_of(answers: Sequence[CoreMetadata | MetadataError]) -> dict[str, int]:
    """How many answers took each route (cost figures)."""
    counts: dict[str, int] = {}
    for answer in answers:
        key = answer.route if isinstance(answer, CoreMetadata) else "error"
        counts[key] = counts.get(key, 0) + 1
    return counts
