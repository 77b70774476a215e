"""HttpCache on its own and behind IndexClient: freshness, revalidation, corrupt records,
and records grouped by release (only the releases asked for are read)."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import json
from collections.abc import Collection
from pathlib import Path
from typing import Any

import httpx
import pytest
from packaging.utils import NormalizedName
from packaging.version import Version

from orchestrator.model import ProjectPage, ReleaseFile
from orchestrator.paths import default_cache_dir
from orchestrator.plan.planner import only_releases
from orchestrator.pypi import httpcache
from orchestrator.pypi.httpcache import RECORD_FORMAT, HttpCache
from orchestrator.pypi.index import SIMPLE_JSON, IndexClient, IndexConfig

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


def fetch(
    cache: HttpCache,
    server: Server,
    *,
    refresh: bool = False,
    versions: Collection[str] | None = None,
) -> ProjectPage | None:
    index = IndexClient(
        IndexConfig(), cache=cache, transport=httpx.MockTransport(server), refresh=refresh
    )
    wanted = None if versions is None else {NormalizedName("cffi"): [Version(v) for v in versions]}
    return asyncio.run(index.get_projects(["cffi"], versions=wanted))["cffi"]  # type: ignore[index]


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
    head, body = path.read_bytes().split(b"\n")
    header: dict[str, Any] = json.loads(head)

    assert header["format"] == RECORD_FORMAT
    assert header["etag"] == '"v1"'
    assert (header["releases"], header["ends"], header["size"]) == (["1"], [len(body)], len(body))
    assert json.loads(body) == [
        ["cffi-1.0.tar.gz", "https://f/cffi-1.0.tar.gz", "ab" * 32, None, None, None, None],
        ["cffi-1.0-py3-none-any.whl", "https://f/w", None, None, "", 9, None],
    ]
    assert b"meta" not in path.read_bytes()


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


# --- records grouped by release ------------------------------------------------------


def rfile(filename: str) -> ReleaseFile:
    return ReleaseFile(filename=filename, url=f"https://f/{filename}", sha256="cd" * 32)


#: Releases in the index's order: 1.1 and 1.1.0 are one release spelled two ways and
#: interleave with 2.0rc1; two files spell no version.
RELEASES = (
    rfile("cffi-1.0.tar.gz"),
    rfile("cffi-1.0-cp312-cp312-musllinux_1_1_aarch64.whl"),
    rfile("cffi-1.1.0.tar.gz"),
    rfile("cffi-2.0rc1.zip"),
    rfile("cffi-1.1-py3-none-any.whl"),
    rfile("cffi-latest.tar.gz"),
    rfile("cffi-2.0rc1-py3-none-any.whl"),
    rfile("cffi.exe"),
    rfile("cffi-1.1.0-cp312-abi3-manylinux_2_17_x86_64.whl"),
)


def store(cache: HttpCache, files: tuple[ReleaseFile, ...] | None, etag: str = '"v1"') -> None:
    cache.store(URL, files, httpx.Headers({"etag": etag}))


def versions(*texts: str) -> list[Version]:
    return [Version(t) for t in texts]


def slices(path: Path) -> dict[str, tuple[int, int]]:
    """Where each release's slice lies in the record, by release key."""
    data = path.read_bytes()
    end = data.index(b"\n")
    header = json.loads(data[:end])
    starts = [0, *header["ends"][:-1]]
    return {
        key: (end + 1 + start, end + 1 + stop)
        for key, start, stop in zip(header["releases"], starts, header["ends"], strict=True)
    }


def test_records_are_grouped_by_release(cache: HttpCache) -> None:
    store(cache, RELEASES)

    (path,) = record_files(cache)

    assert list(slices(path)) == ["1", "1.1", "2rc1", ""]


@pytest.mark.parametrize(
    "wanted",
    [["1.0"], ["1.1"], ["1.1.0"], ["2.0rc1"], ["2.0"], ["1.0", "2.0rc1"], ["1.1", "2.0rc1"], []],
)
def test_a_release_holds_the_files_the_planner_would_keep(
    cache: HttpCache, wanted: list[str]
) -> None:
    store(cache, RELEASES)
    page = ProjectPage(name=NormalizedName("cffi"), files=RELEASES)
    expected = only_releases(page, versions(*wanted))
    assert expected is not None

    loaded = cache.load(URL, versions(*wanted))

    assert loaded is not None
    assert loaded.files == expected.files  # the same files, in the index's order
    assert httpcache.files_of(RELEASES, versions(*wanted)) == expected.files


def test_all_files_come_back_in_the_index_order(cache: HttpCache) -> None:
    store(cache, RELEASES)

    loaded = cache.load(URL)

    assert loaded is not None
    assert loaded.files == RELEASES


def test_only_the_requested_releases_are_decoded(
    cache: HttpCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    store(cache, RELEASES)
    (path,) = record_files(cache)
    data = bytearray(path.read_bytes())
    for key, (start, stop) in slices(path).items():
        if key != "1":  # every other slice becomes garbage of the same length
            data[start:stop] = b"?" * (stop - start)
    path.write_bytes(bytes(data))
    decoded: list[str] = []
    release_file = httpcache._release_file

    def counting(row: Any) -> ReleaseFile:
        decoded.append(row[0])
        return release_file(row)

    monkeypatch.setattr(httpcache, "_release_file", counting)

    loaded = cache.load(URL, versions("1.0"))

    assert loaded is not None
    assert loaded.files == RELEASES[:2]
    assert decoded == ["cffi-1.0.tar.gz", "cffi-1.0-cp312-cp312-musllinux_1_1_aarch64.whl"]
    assert cache.load(URL) is None  # all files: the garbage is read, and the record misses


def test_a_large_page_reads_slices_past_the_first_read(cache: HttpCache) -> None:
    files = tuple(rfile(f"cffi-1.{n}-py3-none-any.whl") for n in range(5000))
    store(cache, files)
    (path,) = record_files(cache)
    assert path.read_bytes().index(b"\n") > httpcache._CHUNK  # the header alone is longer

    for wanted in (["1.0"], ["1.2500", "1.4999"], ["1.5000"]):
        loaded = cache.load(URL, versions(*wanted))
        assert loaded is not None
        assert loaded.files == httpcache.files_of(files, versions(*wanted))
        assert len(loaded.files or ()) == (len(wanted) if wanted != ["1.5000"] else 0)
    everything = cache.load(URL)
    assert everything is not None
    assert everything.files == files


def test_a_version_missing_from_a_cached_page_is_an_empty_page(cache: HttpCache) -> None:
    server = Server(ok())
    empty = ProjectPage(name=NormalizedName("cffi"), files=())

    assert fetch(cache, server, versions=["9.9"]) == empty  # cold: from the answer
    assert fetch(cache, server, versions=["9.9"]) == empty  # warm: from the record
    assert fetch(cache, server, versions=[]) == empty
    assert len(server.requests) == 1


def test_cold_and_warm_pages_hold_the_requested_releases(cache: HttpCache) -> None:
    server = Server(ok())
    page = ProjectPage(name=NormalizedName("cffi"), files=FILES)

    assert fetch(cache, server, versions=["1.0.0"]) == page
    assert fetch(cache, server, versions=["1"]) == page
    assert fetch(cache, server) == page
    assert len(server.requests) == 1


def test_404_with_versions_is_still_not_on_the_index(cache: HttpCache) -> None:
    server = Server(httpx.Response(404))

    assert fetch(cache, server, versions=["1.0"]) is None
    assert fetch(cache, server, versions=["1.0"]) is None
    assert len(server.requests) == 1


def test_a_run_killed_between_writes_leaves_the_old_record(
    cache: HttpCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    store(cache, RELEASES, '"v1"')

    def killed(self: Path, target: Path) -> Path:
        raise SystemExit("killed")  # after the new record is written, before it replaces

    with monkeypatch.context() as patch:
        patch.setattr(Path, "replace", killed)
        with pytest.raises(SystemExit):
            store(cache, (rfile("cffi-1.0.tar.gz"), rfile("cffi-3.0.tar.gz")), '"v2"')

    old = cache.load(URL)
    assert old is not None
    assert (old.etag, old.files) == ('"v1"', RELEASES)
    for wanted in ("1.0", "1.1", "3.0"):
        part = cache.load(URL, versions(wanted))
        assert part is not None
        assert part.files == httpcache.files_of(RELEASES, versions(wanted))


def test_a_cut_short_record_is_a_miss_wherever_it_is_cut(cache: HttpCache) -> None:
    store(cache, (RELEASES[0], RELEASES[3], RELEASES[5]))
    (path,) = record_files(cache)
    data = path.read_bytes()
    header = data.index(b"\n")

    for cut in (*range(0, header - 2, 3), *range(header - 2, len(data))):
        path.write_bytes(data[:cut])
        assert cache.load(URL) is None, cut
        assert cache.load(URL, versions("1.0")) is None, cut


def test_a_304_never_puts_its_header_over_slices_stored_since(
    cache: HttpCache, clock: Clock
) -> None:
    store(cache, RELEASES, '"v1"')
    stale = cache.load(URL, versions("1.0"))
    assert stale is not None
    newer = (rfile("cffi-1.0.tar.gz"), rfile("cffi-3.0.tar.gz"))
    store(cache, newer, '"v2"')  # another run stored the page meanwhile
    clock.now += 1000

    fresh = cache.revalidated(URL, stale, httpx.Headers({"etag": '"v1b"'}))

    assert fresh.files == RELEASES[:2]  # what this run revalidated
    kept = cache.load(URL)
    assert kept is not None
    assert (kept.etag, kept.files) == ('"v2"', newer)

    current = cache.load(URL, versions("3.0"))
    assert current is not None
    cache.revalidated(URL, current, httpx.Headers({"etag": '"v2b"'}))
    refreshed = cache.load(URL)
    assert refreshed is not None
    assert (refreshed.etag, refreshed.stored_at, refreshed.files) == ('"v2b"', clock.now, newer)


def test_old_format_records_are_misses(cache: HttpCache, clock: Clock) -> None:
    server = Server(ok())
    fetch(cache, server)
    (path,) = record_files(cache)
    old = {  # a record of format 1: every file in one list
        "format": 1,
        "etag": None,
        "last_modified": None,
        "stored_at": clock.now,
        "max_age": 600.0,
        "files": [["cffi-1.0.tar.gz", "https://f/cffi-1.0.tar.gz", None, None, None, None]],
    }
    path.write_text(json.dumps(old, separators=(",", ":")))

    assert cache.load(URL) is None
    assert cache.load(URL, versions("1.0")) is None
    server.responses.append(ok())
    assert fetch(cache, server) == ProjectPage(name=NormalizedName("cffi"), files=FILES)
    assert len(server.requests) == 2
    assert path.read_bytes().startswith(b'{"format":%d,' % RECORD_FORMAT)
