"""Fetch release files into a content-addressed store: ``<cache>/files/<sha256>/<filename>``.

A file is stored only once its hash has been checked, so whatever is in the store is
trusted and never fetched again. The HTTP transport is passed in (tests hand an
``httpx.MockTransport``); retries cover the network, never a wrong hash.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx

from orchestrator.errors import IndexUnavailableError
from orchestrator.paths import CACHE_SETTING, space_checked
from orchestrator.pypi.localfiles import is_file_url, local_response
from orchestrator.pypi.retry import Refusals, retry_after
from orchestrator.urls import url_to_path

_CHUNK = 1 << 16
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class DownloadError(IndexUnavailableError):
    """A file could not be fetched from the index after retries."""


class HashMismatchError(DownloadError):
    """The index served a file whose sha256 is not the one it (or the lock file) listed."""

    def __init__(self, filename: str, url: str, expected: str, actual: str) -> None:
        super().__init__(
            f"sha256 mismatch for {filename}: expected {expected}, got {actual} (from {url}); "
            "the file was not kept",
            hint="the index or a proxy served a different file than it lists; retry later, "
            "and if it persists check the hash in your lock file or report it to the index",
        )
        self.filename = filename
        self.expected = expected
        self.actual = actual


@dataclass(frozen=True, kw_only=True)
class FileRequest:
    """One file to fetch; ``sha256`` is what the index or the lock file promises."""

    filename: str
    url: str
    sha256: str | None = None


@dataclass(frozen=True, kw_only=True)
class StoredFile:
    """A file in the store: its path and its (checked) sha256."""

    path: Path
    sha256: str

    @property
    def filename(self) -> str:
        return self.path.name


class FileStore:
    """``<root>/<sha256>/<filename>``; entries appear atomically (temp file + rename)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, sha256: str, filename: str) -> Path:
        if not _SHA256.match(sha256.lower()):
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        if "/" in filename or filename.startswith(".") or not filename:
            raise ValueError(f"not a plain file name: {filename!r}")
        return self.root / sha256.lower() / filename

    def get(self, sha256: str | None, filename: str) -> Path | None:
        if sha256 is None:
            return None
        path = self.path_for(sha256, filename)
        return path if path.is_file() else None

    def temp_file(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".partial-", dir=self.root)
        os.close(fd)
        return Path(name)

    def put(self, temp: Path, sha256: str, filename: str) -> Path:
        """Move a checked temp file into place; a concurrent writer of the same file is fine."""
        final = self.path_for(sha256, filename)
        final.parent.mkdir(parents=True, exist_ok=True)
        # mkstemp makes it 0600; wheelhouses hard-link it, and whoever serves or installs
        # one (a web server, another user, a non-root container) must be able to read it.
        temp.chmod(0o644)
        temp.replace(final)
        return final


class Downloader:
    """Fetches ``FileRequest``s into a ``FileStore``, a few at a time, with retries."""

    def __init__(
        self,
        store: FileStore,
        client: httpx.Client | None = None,
        *,
        concurrency: int = 8,
        retries: int = 3,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.store = store
        self._client = client
        self.concurrency = concurrency
        self.retries = retries
        self.backoff = backoff
        self._sleep = sleep

    @classmethod
    def for_cache(
        cls, cache_dir: Path, *, transport: httpx.BaseTransport | None = None
    ) -> Downloader:
        """The usual setup: ``<cache_dir>/files``, an httpx client that follows redirects."""
        client = httpx.Client(transport=transport, follow_redirects=True, timeout=60.0)
        return cls(FileStore(cache_dir / "files"), client)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def __enter__(self) -> Downloader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(follow_redirects=True, timeout=60.0)
        return self._client

    def fetch(self, request: FileRequest) -> StoredFile:
        """``request``'s file in the store, fetched unless it is there already."""
        stored = self.store.get(request.sha256, request.filename)
        if stored is not None:
            return StoredFile(path=stored, sha256=stored.parent.name)
        doing = f"downloading {request.filename}"
        with space_checked(self.store.root, doing, setting=CACHE_SETTING):
            temp = self.store.temp_file()
            try:
                actual = self._download_with_retries(request, temp)
                expected = (request.sha256 or actual).lower()
                if actual != expected:
                    raise HashMismatchError(request.filename, request.url, expected, actual)
                path = self.store.put(temp, actual, request.filename)
                return StoredFile(path=path, sha256=actual)
            finally:
                temp.unlink(missing_ok=True)

    def fetch_all(self, requests: Iterable[FileRequest]) -> list[StoredFile]:
        """Fetch concurrently; results come back in the order of ``requests``."""
        todo: Sequence[FileRequest] = list(requests)
        if len(todo) <= 1:
            return [self.fetch(r) for r in todo]
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(self.fetch, todo))

    def _download_with_retries(self, request: FileRequest, temp: Path) -> str:
        refusals = Refusals()
        for attempt in range(self.retries + 1):
            try:
                return self._download(request, temp)
            except (httpx.TransportError, _RetryableStatus) as exc:
                # A name that does not resolve or a refused connection: one more try at most.
                refused = refusals.note(exc)
                if attempt == self.retries or refused:
                    raise DownloadError(
                        f"could not download {request.filename} from {request.url} "
                        f"after {attempt + 1} attempts: {exc}",
                        hint="check the network and the index URL; the run can simply be "
                        "repeated, files already downloaded are kept",
                    ) from exc
                delay = self.backoff * 2**attempt
                asked = exc.retry_after if isinstance(exc, _RetryableStatus) else None
                self._sleep(delay if asked is None else max(delay, asked))
        raise AssertionError("unreachable")

    def _download(self, request: FileRequest, temp: Path) -> str:
        if is_file_url(request.url):
            return self._copy(request, temp)
        digest = hashlib.sha256()
        with self.client.stream("GET", request.url) as response:
            _check_status(request, response)
            with temp.open("wb") as out:
                for chunk in response.iter_bytes(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
        return digest.hexdigest()

    @staticmethod
    def _copy(request: FileRequest, temp: Path) -> str:
        """A local file (``--find-links`` folder, uv.lock ``path``), hashed like a download."""
        response = local_response(request.url)
        if response.status_code != 200:
            raise DownloadError(
                f"could not read {request.filename}: {url_to_path(request.url)} is gone",
                hint="the file was there when the plan was made; put it back and run again",
            )
        temp.write_bytes(response.content)
        return hashlib.sha256(response.content).hexdigest()


class _RetryableStatus(Exception):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        #: What the server's ``Retry-After`` asks (429, 503), capped.
        self.retry_after = retry_after


def _check_status(request: FileRequest, response: httpx.Response) -> None:
    if response.status_code in _RETRY_STATUS:
        raise _RetryableStatus(f"HTTP {response.status_code}", retry_after(response))
    if response.is_error:
        raise DownloadError(
            f"could not download {request.filename}: HTTP {response.status_code} from "
            f"{request.url}",
            hint="the index lists a file it does not serve; re-plan, or check the index URL",
        )


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def link_or_copy(source: Path, dest: Path) -> None:
    """Hard-link ``source`` to ``dest`` (cheap for big wheels), copying across file systems."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.unlink(missing_ok=True)
    try:
        dest.hardlink_to(source)
    except OSError:
        shutil.copyfile(source, dest)
