"""HttpCache on its own and behind IndexClient: freshness, revalidation, corrupt records."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from packaging.utils import NormalizedName

from orchestrator.httpcache import RECORD_FORMAT, HttpCache
from orchestrator.index import SIMPLE_JSON, IndexClient, IndexConfig
from orchestrator.model import ProjectPage, ReleaseFile
from orchestrator.paths import default_cache_dir

URL = "https://pypi.org/simple/cffi/"
FILES = (
    ReleaseFile(filename="cffi-1.0.tar.gz", url="https://f/cffi-1.0.tar.gz", sha256="ab" * 32),
    ReleaseFile(filename="cffi-1.0-py3-none-any.whl", url="https://f/w", yanked="", size=9),
)
BODY = {
    "meta": {"api-version": "1.1"},
    "name": "cffi",
    "files": [
        {
            "filename": "cffi-1.0.tar.gz",
            "url": "https://f/cffi-1.0.tar.gz",
            "hashes": {"sha256": "ab" * 32},
        },
        {
            "filename": "cffi-1.0-py3-none-any.whl",
            "url": "https://f/w",
            "hashes": {},
            "yanked": True,
            "size": 9,
        },
    ],
}


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class Server:
    """A MockTransport handler that records requests and answers from a script."""

    def __init__(self, *responses: httpx.Response) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.responses.pop(0)


def ok(**headers: str) -> httpx.Response:
    return httpx.Response(200, json=BODY, headers={"content-type": SIMPLE_JSON, **headers})


def fetch(cache: HttpCache, server: Server, *, refresh: bool = False) -> ProjectPage | None:
    index = IndexClient(
        IndexConfig(), cache=cache, transport=httpx.MockTransport(server), refresh=refresh
    )
    return asyncio.run(index.get_projects(["cffi"]))["cffi"]  # type: ignore[index]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cache(tmp_path: Path, clock: Clock) -> HttpCache:
    return HttpCache(tmp_path / "http", clock=clock)


def record_files(cache: HttpCache) -> list[Path]:
    return sorted(cache.directory.iterdir())


def test_hit_within_max_age_makes_no_request(cache: HttpCache, clock: Clock) -> None:
    server = Server(ok(**{"cache-control": "max-age=600", "etag": '"v1"'}))

    first = fetch(cache, server)
    clock.now += 599
    second = fetch(cache, server)

    assert len(server.requests) == 1
    assert first == second == ProjectPage(name=NormalizedName("cffi"), files=FILES)


def test_stale_record_revalidates_and_304_reuses_data(cache: HttpCache, clock: Clock) -> None:
    last_modified = "Sat, 21 Nov 2026 10:00:00 GMT"
    server = Server(
        ok(**{"cache-control": "max-age=600", "etag": '"v1"', "last-modified": last_modified}),
        httpx.Response(304, headers={"cache-control": "max-age=60", "etag": '"v2"'}),
    )
    fetch(cache, server)
    clock.now += 601

    again = fetch(cache, server)

    assert again is not None
    assert again.files == FILES
    conditional = server.requests[1].headers
    assert conditional["if-none-match"] == '"v1"'
    assert conditional["if-modified-since"] == last_modified
    refreshed = cache.load(URL)
    assert refreshed is not None
    assert (refreshed.etag, refreshed.stored_at, refreshed.max_age) == ('"v2"', clock.now, 60.0)
    clock.now += 59
    fetch(cache, server)
    assert len(server.requests) == 2


def test_changed_page_replaces_the_record(cache: HttpCache, clock: Clock) -> None:
    server = Server(ok(etag='"v1"'), ok(etag='"v2"'))
    fetch(cache, server)
    clock.now += 10_000

    fetch(cache, server)

    stored = cache.load(URL)
    assert stored is not None
    assert stored.etag == '"v2"'
    assert len(record_files(cache)) == 1


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"{not json",
        b'{"format": 1}',
        b"[1, 2]",
        json.dumps({"format": RECORD_FORMAT + 1}).encode(),
    ],
)
def test_corrupt_or_foreign_record_is_a_miss(cache: HttpCache, content: bytes) -> None:
    server = Server(ok(), ok())
    fetch(cache, server)
    (path,) = record_files(cache)
    path.write_bytes(content)

    assert cache.load(URL) is None
    assert fetch(cache, server) == ProjectPage(name=NormalizedName("cffi"), files=FILES)
    assert len(server.requests) == 2
    assert cache.load(URL) is not None


def test_record_holds_parsed_files_not_the_body(cache: HttpCache) -> None:
    fetch(cache, Server(ok(etag='"v1"')))

    (path,) = record_files(cache)
    record: dict[str, Any] = json.loads(path.read_text())

    assert record["format"] == RECORD_FORMAT
    assert record["files"][0] == [
        "cffi-1.0.tar.gz",
        "https://f/cffi-1.0.tar.gz",
        "ab" * 32,
        None,
        None,
        None,
    ]
    assert "meta" not in path.read_text()


def test_no_cache_control_uses_the_default_max_age(tmp_path: Path, clock: Clock) -> None:
    cache = HttpCache(tmp_path, clock=clock, default_max_age=30)
    server = Server(ok(), ok())
    fetch(cache, server)
    clock.now += 29
    fetch(cache, server)
    clock.now += 2
    fetch(cache, server)

    assert len(server.requests) == 2


def test_age_header_shortens_freshness(cache: HttpCache, clock: Clock) -> None:
    server = Server(ok(**{"cache-control": "max-age=600", "age": "590"}), ok())
    fetch(cache, server)
    clock.now += 11

    fetch(cache, server)

    assert len(server.requests) == 2


def test_no_store_is_not_stored_and_no_cache_always_revalidates(cache: HttpCache) -> None:
    server = Server(ok(**{"cache-control": "no-store"}), ok(**{"cache-control": "no-cache"}))
    fetch(cache, server)
    assert cache.load(URL) is None

    server.responses.append(httpx.Response(304))
    fetch(cache, server)
    fetch(cache, server)

    assert len(server.requests) == 3


def test_refresh_revalidates_a_fresh_record(cache: HttpCache) -> None:
    server = Server(ok(etag='"v1"'), httpx.Response(304))
    fetch(cache, server)

    page = fetch(cache, server, refresh=True)

    assert page is not None
    assert server.requests[1].headers["if-none-match"] == '"v1"'


def test_404_is_remembered(cache: HttpCache) -> None:
    server = Server(httpx.Response(404, headers={"cache-control": "max-age=600"}))

    assert fetch(cache, server) is None
    assert fetch(cache, server) is None
    assert len(server.requests) == 1


def test_writes_leave_no_temporary_files(cache: HttpCache) -> None:
    fetch(cache, Server(ok()))

    assert [p.suffix for p in record_files(cache)] == [".json"]
    assert not [p for p in record_files(cache) if p.name.startswith(".tmp-")]


def test_unwritable_directory_is_not_an_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    cache = HttpCache(blocker / "http")

    assert fetch(cache, Server(ok())) == ProjectPage(name=NormalizedName("cffi"), files=FILES)


def test_default_cache_dir_precedence(tmp_path: Path) -> None:
    home = Path.home()

    assert (
        default_cache_dir({"WHEELHOUSE_CACHE_DIR": str(tmp_path), "XDG_CACHE_HOME": "/x"})
        == tmp_path
    )
    assert default_cache_dir({"XDG_CACHE_HOME": "/x"}) == Path("/x/wheelhouse")
    assert default_cache_dir({"XDG_CACHE_HOME": "relative"}) == home / ".cache" / "wheelhouse"
    assert default_cache_dir({"WHEELHOUSE_CACHE_DIR": ""}) == home / ".cache" / "wheelhouse"


def test_cached_files_are_ordinary_release_files(cache: HttpCache) -> None:
    fetch(cache, Server(ok()))

    stored = cache.load(URL)

    assert stored is not None
    assert stored.files is not None
    for loaded, built in zip(stored.files, FILES, strict=True):
        assert loaded == built
        assert hash(loaded) == hash(built)
        assert repr(loaded) == repr(built)
        assert dataclasses.replace(loaded, size=1) == dataclasses.replace(built, size=1)
        with pytest.raises(dataclasses.FrozenInstanceError):
            loaded.size = 2  # type: ignore[misc]


def test_loading_leaves_the_garbage_collector_as_it_was(cache: HttpCache) -> None:
    fetch(cache, Server(ok()))
    assert gc.isenabled()

    cache.load_many([URL, URL + "missing/"])
    assert gc.isenabled()

    gc.disable()
    try:
        cache.load(URL)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_fresh_cache_reports_progress_without_requests(cache: HttpCache) -> None:
    server = Server(ok())
    fetch(cache, server)
    seen: list[str] = []
    index = IndexClient(
        IndexConfig(), cache=cache, transport=httpx.MockTransport(server), progress=seen.append
    )

    asyncio.run(index.get_projects(["CFFI"]))

    assert seen == ["cffi"]
    assert len(server.requests) == 1
