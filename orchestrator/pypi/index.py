"""The package index client: project pages of the PEP 691 JSON Simple API, many at once.

Every page of every project on every index is asked for concurrently (a semaphore bounds
the requests in flight), through an optional on-disk cache that revalidates. Pages of the
main index and the extra indexes are merged into one ``ProjectPage`` per project. A caller
that names the versions it needs gets only their files (and the cache decodes only them).
"""

from __future__ import annotations

import asyncio
import random
import ssl
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlunsplit

import httpx
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from orchestrator import __version__
from orchestrator.errors import ConfigError, IndexUnavailableError
from orchestrator.model import ProjectPage, ReleaseFile
from orchestrator.pypi.httpcache import CachedPage, HttpCache, Versions, files_of
from orchestrator.pypi.retry import Refusals
from orchestrator.pypi.retry import retry_after as asked_delay
from orchestrator.urls import split_url, url_problem

PYPI_SIMPLE = "https://pypi.org/simple"
SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
_JSON_TYPES = frozenset({SIMPLE_JSON, "application/json"})
_USER_AGENT = f"wheelhouse/{__version__}"

#: Seconds before the first retry; each further retry waits twice as long (plus jitter).
_BACKOFF = 0.5
_MAX_BACKOFF = 30.0
_MAX_RETRY_AFTER = 60.0

_NETWORK_HINT = (
    "check the network and any proxy (HTTPS_PROXY), and the index URLs "
    "(--index-url / --extra-index-url in the requirements file, PIP_INDEX_URL / "
    "PIP_EXTRA_INDEX_URL, index.url / index.extra_urls in wheelhouse.yaml); an extra index "
    "that cannot be reached stops the run: remove it if the run does not need it"
)
_PEP691_HINT = (
    "wheelhouse reads the JSON form of the Simple API (PEP 691, "
    f"Accept: {SIMPLE_JSON}); use an index or a mirror that serves it"
)


@dataclass(frozen=True, kw_only=True)
class IndexConfig:
    """Where to look for projects: one main index, then extra ones (URLs of Simple API roots)."""

    index_url: str = PYPI_SIMPLE
    extra_index_urls: tuple[str, ...] = ()

    @property
    def urls(self) -> tuple[str, ...]:
        """Every index once, the main one first, without trailing slashes."""
        return tuple(dict.fromkeys(_clean(u) for u in (self.index_url, *self.extra_index_urls)))

    @classmethod
    def resolve(
        cls,
        *,
        config_url: str | None = None,
        config_extra: Sequence[str] = (),
        requirements_url: str | None = None,
        requirements_extra: Sequence[str] = (),
        environ: Mapping[str, str],
    ) -> IndexConfig:
        """The main index comes from, by precedence: the requirements file's ``--index-url``,
        ``PIP_INDEX_URL``, wheelhouse.yaml, PyPI. Extra indexes of all three are merged.
        """
        env_url = environ.get("PIP_INDEX_URL", "").strip() or None
        env_extra = environ.get("PIP_EXTRA_INDEX_URL", "").split()
        for variable, urls in (
            ("PIP_INDEX_URL", [env_url or ""]),
            ("PIP_EXTRA_INDEX_URL", env_extra),
        ):
            for url in filter(None, urls):
                if problem := url_problem(url):
                    raise ConfigError(
                        f"environment variable {variable}: {problem}",
                        hint=f"fix or unset {variable}",
                    )
        main = _clean(requirements_url or env_url or config_url or PYPI_SIMPLE)
        extras = dict.fromkeys(
            _clean(u) for u in (*requirements_extra, *env_extra, *config_extra) if u.strip()
        )
        extras.pop(main, None)
        return cls(index_url=main, extra_index_urls=tuple(extras))


#: The files of one project on one index; ``None`` when that index answered 404.
_Files = tuple[ReleaseFile, ...] | None
#: A cached answer that must be revalidated, or ``None`` when there is none.
_Stale = CachedPage | None
#: (project, index URL)
_Key = tuple[NormalizedName, str]


@dataclass(frozen=True, kw_only=True)
class _Session:
    """What the requests of one ``get_projects`` call share."""

    client: httpx.AsyncClient
    semaphore: asyncio.Semaphore
    #: Pages still to come, per project (to report progress when a project is complete).
    pending: Counter[str]
    #: The releases needed of each project (``None``: every file).
    versions: Mapping[NormalizedName, Versions]


class IndexClient:
    """Fetches project pages from the configured indexes.

    ``refresh`` revalidates every cached page even when it is still fresh. ``jitter``
    returns a number in [0, 1) that stretches each backoff delay by up to 100 %.
    ``progress`` is called with each project's normalized name once its pages are in.
    """

    def __init__(
        self,
        config: IndexConfig,
        *,
        cache: HttpCache | None,
        transport: httpx.AsyncBaseTransport | None = None,
        max_concurrency: int = 32,
        retries: int = 4,
        timeout: float = 30.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        progress: Callable[[str], None] | None = None,
        refresh: bool = False,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.config = config
        self._cache = cache
        self._transport = transport
        self._max_concurrency = max_concurrency
        self._tries = retries + 1
        self._timeout = timeout
        self._sleep = sleep
        self._progress = progress
        self._refresh = refresh
        self._jitter = jitter

    def get_projects_sync(
        self,
        names: Iterable[str],
        *,
        versions: Mapping[NormalizedName, Collection[Version]] | None = None,
    ) -> dict[NormalizedName, ProjectPage | None]:
        result: dict[NormalizedName, ProjectPage | None] = {}

        async def fetch() -> None:
            # Not returned from the main task: Python 3.11's asyncio.run formats that task,
            # result included, when it restores the SIGINT handler (0.1 s for a large plan).
            result.update(await self.get_projects(names, versions=versions))

        asyncio.run(fetch())
        return result

    async def get_projects(
        self,
        names: Iterable[str],
        *,
        versions: Mapping[NormalizedName, Collection[Version]] | None = None,
    ) -> dict[NormalizedName, ProjectPage | None]:
        """Each project's merged page, by normalized name; ``None`` if no index has it.

        With ``versions``, a page holds only the files of the versions named for its
        project (none when the project has no such release: still a page, not ``None``);
        a project absent from ``versions`` gets every file, as all do without it.
        """
        wanted = list(dict.fromkeys(canonicalize_name(n) for n in names))
        needed = _needed(wanted, versions)
        indexes = self.config.urls
        keys = [(name, index) for name in wanted for index in indexes]
        found, stale = self._from_cache(keys, needed)
        for name in wanted:
            if self._progress is not None and all((name, i) in found for i in indexes):
                self._progress(name)
        if stale:
            found.update(await self._fetch_all(stale, needed))
        return {name: _merge(name, [found[name, i] for i in indexes]) for name in wanted}

    def _from_cache(
        self, keys: list[_Key], needed: Mapping[NormalizedName, Versions]
    ) -> tuple[dict[_Key, _Files], dict[_Key, _Stale]]:
        """The pages still fresh in the cache, and the others with their stale records."""
        cache = self._cache
        if cache is None:
            return {}, dict.fromkeys(keys)
        records = cache.load_many(
            (_page_url(index, name) for name, index in keys),
            [needed[name] for name, _ in keys],
        )
        found: dict[_Key, _Files] = {}
        stale: dict[_Key, _Stale] = {}
        for key, record in zip(keys, records, strict=True):
            if record is not None and not self._refresh and cache.is_fresh(record):
                found[key] = record.files
            else:
                stale[key] = record
        return found, stale

    async def _fetch_all(
        self, stale: dict[_Key, _Stale], needed: Mapping[NormalizedName, Versions]
    ) -> dict[_Key, _Files]:
        """Ask the indexes for every page in ``stale``, all at once."""
        async with self._open_client() as client:
            session = _Session(
                client=client,
                semaphore=asyncio.Semaphore(self._max_concurrency),
                pending=Counter(name for name, _ in stale),
                versions=needed,
            )
            try:
                async with asyncio.TaskGroup() as group:
                    tasks = {
                        key: group.create_task(self._fetch(session, key, record))
                        for key, record in stale.items()
                    }
            except ExceptionGroup as failures:
                raise _first_error(failures) from None
        return {key: task.result() for key, task in tasks.items()}

    def _open_client(self) -> httpx.AsyncClient:
        # trust_env (the default) makes httpx honour SSL_CERT_FILE and the proxy variables.
        return httpx.AsyncClient(
            transport=self._transport,
            timeout=self._timeout,
            limits=httpx.Limits(
                max_connections=self._max_concurrency,
                max_keepalive_connections=self._max_concurrency,
            ),
            follow_redirects=True,
            headers={"User-Agent": _USER_AGENT},
        )

    async def _fetch(self, session: _Session, key: _Key, record: _Stale) -> _Files:
        """The files of one project on one index (revalidating ``record`` if there is one)."""
        name, index = key
        url = _page_url(index, name)
        headers = {"Accept": SIMPLE_JSON, **(record.validators() if record else {})}
        response = await self._get(session, index, name, url, headers)
        cache = self._cache
        versions = session.versions[name]
        if cache and record and response.status_code == 304:
            files = cache.revalidated(url, record, response.headers).files
        else:
            files = _read_files(index, name, response)
            if cache is not None:
                files = cache.store(url, files, response.headers, versions=versions).files
            elif files is not None:
                files = files_of(files, versions)
        session.pending[name] -= 1
        if self._progress is not None and not session.pending[name]:
            self._progress(name)
        return files

    async def _get(
        self,
        session: _Session,
        index: str,
        name: str,
        url: str,
        headers: dict[str, str],
    ) -> httpx.Response:
        """GET with retries on 5xx, 429, timeouts and dropped connections.

        A host name that does not resolve, or a connection refused, is tried once more
        (a blip) and then fails: a wrong or unreachable index does not wait out the backoff.
        """
        cause = ""
        refusals = Refusals()
        for attempt in range(self._tries):
            retry_after = None
            try:
                async with session.semaphore:
                    response = await session.client.get(url, headers=headers)
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                if _is_certificate_error(exc):
                    raise _certificate_error(index, name, exc) from exc
                if refusals.note(exc):
                    raise IndexUnavailableError(
                        f"package index {_redact(index)} cannot be reached (asking for {name}, "
                        f"{attempt + 1} tries): {_describe(exc)}",
                        hint=_NETWORK_HINT,
                    ) from exc
                cause = _describe(exc)
            except httpx.TransportError as exc:  # a bad proxy or URL scheme: retrying won't help
                raise IndexUnavailableError(
                    f"package index {_redact(index)} could not be asked for {name}: "
                    f"{_describe(exc)}",
                    hint=_NETWORK_HINT,
                ) from exc
            else:
                if response.status_code != 429 and response.status_code < 500:
                    return response
                cause = f"HTTP {response.status_code} {response.reason_phrase}".rstrip()
                retry_after = asked_delay(response)
            if attempt + 1 < self._tries:
                await self._sleep(self._delay(attempt, retry_after))
        raise IndexUnavailableError(
            f"package index {_redact(index)} did not answer for {name} "
            f"after {self._tries} tries: {cause}",
            hint=_NETWORK_HINT,
        )

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        delay = min(_BACKOFF * 2.0**attempt, _MAX_BACKOFF) * (1 + self._jitter())
        if retry_after is not None:
            return max(delay, min(retry_after, _MAX_RETRY_AFTER))
        return delay


def _read_files(index: str, name: str, response: httpx.Response) -> _Files:
    """The files of a final (not retried) answer; ``None`` for a 404."""
    status = response.status_code
    where = f"package index {_redact(index)}"
    if status == 404:
        return None
    if status in (401, 403):
        raise IndexUnavailableError(
            f"{where} refused access to {name} (HTTP {status})",
            hint="put valid credentials in the index URL (https://user:token@host/simple)",
        )
    if status == 406:
        raise IndexUnavailableError(f"{where} cannot answer JSON for {name}", hint=_PEP691_HINT)
    if status != 200:
        raise IndexUnavailableError(
            f"{where} answered HTTP {status} for {name}",
            hint="the index URL must be the root of a Simple API, such as https://pypi.org/simple",
        )
    content_type = response.headers.get("content-type", "").partition(";")[0].strip().lower()
    if content_type not in _JSON_TYPES:
        raise IndexUnavailableError(
            f"{where} answered {content_type or 'no content type'} for {name}, "
            "not the JSON Simple API",
            hint=_PEP691_HINT,
        )
    try:
        return parse_project_files(response.json(), base_url=str(response.url))
    except (ValueError, TypeError) as exc:
        raise IndexUnavailableError(
            f"{where} sent a malformed page for {name}: {exc}",
            hint="the index does not follow PEP 691; report it to whoever runs it",
        ) from exc


def parse_project_files(data: Any, *, base_url: str) -> tuple[ReleaseFile, ...]:
    """The ``files`` of a PEP 691 project page; relative URLs are resolved against ``base_url``.

    Raises ``ValueError`` naming the bad field, e.g. ``files[3].url``.
    """
    if not isinstance(data, dict):
        raise ValueError("the page is not a JSON object")
    meta = data.get("meta")
    version = str(meta.get("api-version", "1.0")) if isinstance(meta, dict) else "1.0"
    if version.partition(".")[0] != "1":
        raise ValueError(f"meta.api-version is {version}, and only 1.x is understood")
    entries = data.get("files")
    if not isinstance(entries, list):
        raise ValueError("files is missing or not a list")
    return tuple(_parse_file(entry, f"files[{i}]", base_url) for i, entry in enumerate(entries))


def _parse_file(entry: Any, where: str, base_url: str) -> ReleaseFile:
    # Called for every file of every page (numpy has thousands): checks are inlined.
    if not isinstance(entry, dict):
        raise ValueError(f"{where} is not an object")
    filename, url = entry.get("filename"), entry.get("url")
    if not isinstance(filename, str):
        raise ValueError(f"{where}.filename is missing or not a string")
    if not isinstance(url, str):
        raise ValueError(f"{where}.url is missing or not a string")
    hashes = entry.get("hashes")
    sha256 = hashes.get("sha256") if isinstance(hashes, dict) else None
    requires_python = entry.get("requires-python")
    if requires_python is not None and not isinstance(requires_python, str):
        raise ValueError(f"{where}.requires-python must be a string")
    yanked = entry.get("yanked", False)
    if not isinstance(yanked, bool | str):
        raise ValueError(f"{where}.yanked must be a boolean or a string")
    size = entry.get("size")
    metadata = entry.get("core-metadata", entry.get("dist-info-metadata"))
    return ReleaseFile(
        filename=filename,
        url=url if url.startswith(("https://", "http://")) else urljoin(base_url, url),
        sha256=sha256 if isinstance(sha256, str) else None,
        requires_python=requires_python,
        yanked="" if yanked is True else (yanked or None),
        size=size if type(size) is int else None,
        core_metadata=_core_metadata(metadata),
    )


def _core_metadata(value: object) -> str | None:
    """PEP 658/714: ``true`` or a dict of hashes advertises ``<url>.metadata``."""
    if isinstance(value, dict):
        sha256 = value.get("sha256")
        return sha256 if isinstance(sha256, str) else ""
    return "" if value is True else None


def _needed(
    names: Sequence[NormalizedName],
    versions: Mapping[NormalizedName, Collection[Version]] | None,
) -> dict[NormalizedName, Versions]:
    """The versions needed of each of ``names`` (``None``: all); the mapping's names are
    normalized here, like ``names``."""
    if versions is None:
        return dict.fromkeys(names)
    named: dict[NormalizedName, set[Version]] = {}
    for name, wanted in versions.items():
        named.setdefault(canonicalize_name(name), set()).update(wanted)
    return {name: named.get(name) for name in names}


def _merge(name: NormalizedName, pages: Sequence[_Files]) -> ProjectPage | None:
    """One page from all indexes: the main index first, a filename only once."""
    found = [p for p in pages if p is not None]
    if not found:
        return None
    if len(found) == 1:
        return ProjectPage(name=name, files=found[0])
    files: dict[str, ReleaseFile] = {}
    for page in found:
        for file in page:
            files.setdefault(file.filename, file)
    return ProjectPage(name=name, files=tuple(files.values()))


def _page_url(index: str, name: str) -> str:
    return f"{index}/{name}/"


def _clean(url: str) -> str:
    return url.strip().rstrip("/")


def _redact(url: str) -> str:
    """``url`` with its credentials masked, for messages."""
    parts = split_url(url)
    if parts is None or "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="****@" + parts.netloc.rpartition("@")[2]))


def _describe(exc: Exception) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _is_certificate_error(exc: BaseException) -> bool:
    """Whether TLS verification failed somewhere down the chain (retrying won't help)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        if "CERTIFICATE_VERIFY_FAILED" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _certificate_error(index: str, name: str, exc: Exception) -> IndexUnavailableError:
    return IndexUnavailableError(
        f"package index {_redact(index)} sent a certificate that is not trusted "
        f"(asking for {name}): {_describe(exc)}",
        hint="if a proxy re-signs TLS, point SSL_CERT_FILE at a CA bundle that holds its CA",
    )


def _first_error(failures: ExceptionGroup[Exception]) -> Exception:
    first = failures.exceptions[0]
    while isinstance(first, ExceptionGroup):
        first = first.exceptions[0]
    return first


def fetch_find_links_page(url: str) -> str:
    """A ``--find-links`` page's HTML (pip reads its links; see ``plan.findlinks``)."""
    try:
        response = httpx.get(
            url,
            follow_redirects=True,
            timeout=30.0,
            headers={"User-Agent": f"wheelhouse/{__version__}"},
        )
    except httpx.HTTPError as exc:
        raise IndexUnavailableError(
            f"find-links page {_redact(url)} could not be read: {_describe(exc)}",
            hint="check the network and the --find-links URL in the requirements file",
        ) from exc
    if response.is_error:
        raise IndexUnavailableError(
            f"find-links page {_redact(url)} answered HTTP {response.status_code}",
            hint="check the --find-links URL in the requirements file",
        )
    return response.text
