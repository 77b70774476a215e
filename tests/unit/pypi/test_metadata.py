"""The metadata client's routes, each against an ``httpx.MockTransport`` server."""

from __future__ import annotations

import hashlib
import io
import random
import re
import tarfile
import zipfile
from pathlib import Path

import httpx
import pytest

from orchestrator.errors import IndexUnavailableError
from orchestrator.model import ReleaseFile
from orchestrator.pypi.metadata import CoreMetadata, MetadataClient, MetadataError

METADATA = (
    b"Metadata-Version: 2.1\nName: redis\nVersion: 5.2.1\n"
    b'Requires-Dist: async-timeout>=4.0.3; python_full_version < "3.11.3"\n'
    b'Requires-Dist: hiredis>=3.0.0; extra == "hiredis"\n\nThe description.\n'
)
REQUIRES = (
    'async-timeout>=4.0.3; python_full_version < "3.11.3"',
    'hiredis>=3.0.0; extra == "hiredis"',
)
WHEEL_URL = "https://files.example/redis-5.2.1-py3-none-any.whl"


def wheel_bytes() -> bytes:
    """A real zip, with 200 KB before METADATA: the range route must seek to it."""
    noise = random.Random(1).randbytes(200_000)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as wheel:
        wheel.writestr("redis/big.bin", noise, compress_type=zipfile.ZIP_STORED)
        wheel.writestr("redis/__init__.py", b"x = 1\n" * 100, compress_type=zipfile.ZIP_DEFLATED)
        wheel.writestr(
            "redis-5.2.1.dist-info/METADATA", METADATA, compress_type=zipfile.ZIP_DEFLATED
        )
        wheel.writestr("redis-5.2.1.dist-info/RECORD", b"", compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


WHEEL = wheel_bytes()


class Server:
    """Serves the wheel, optionally its ``.metadata`` and range requests; logs requests."""

    def __init__(self, *, metadata: bytes | None = None, ranges: bool = True) -> None:
        self.metadata = metadata
        self.ranges = ranges
        self.seen: list[str] = []
        self.files: dict[str, bytes] = {WHEEL_URL: WHEEL}

    def handler(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        wanted = request.headers.get("range")
        self.seen.append(f"{url.rsplit('/', 1)[-1]} {wanted or ''}".strip())
        if url.endswith(".metadata"):
            return httpx.Response(200 if self.metadata else 404, content=self.metadata or b"")
        body = self.files.get(url)
        if body is None:
            return httpx.Response(404)
        if wanted is None or not self.ranges:
            return httpx.Response(200, content=body)
        return _partial(body, wanted)


def _partial(body: bytes, wanted: str) -> httpx.Response:
    match = re.fullmatch(r"bytes=(\d*)-(\d*)", wanted)
    assert match is not None
    if not match[1]:
        first = max(0, len(body) - int(match[2]))
        last = len(body) - 1
    else:
        first, last = int(match[1]), min(int(match[2]), len(body) - 1)
    headers = {"content-range": f"bytes {first}-{last}/{len(body)}"}
    return httpx.Response(206, content=body[first : last + 1], headers=headers)


def client(server: Server, cache: Path | None = None) -> MetadataClient:
    return MetadataClient(cache_dir=cache, transport=httpx.MockTransport(server.handler))


def wheel(*, core_metadata: str | None = None, sha256: str | None = None) -> ReleaseFile:
    return ReleaseFile(
        filename="redis-5.2.1-py3-none-any.whl",
        url=WHEEL_URL,
        sha256=sha256 or hashlib.sha256(WHEEL).hexdigest(),
        core_metadata=core_metadata,
    )


def one(server: Server, file: ReleaseFile, cache: Path | None = None) -> CoreMetadata:
    answer = client(server, cache).get_many_sync([file])[file.url]
    assert isinstance(answer, CoreMetadata), answer
    return answer


def test_advertised_core_metadata_is_fetched_and_its_hash_checked() -> None:
    server = Server(metadata=METADATA)
    found = one(server, wheel(core_metadata=hashlib.sha256(METADATA).hexdigest()))
    assert (found.name, found.version, found.requires_dist) == ("redis", "5.2.1", REQUIRES)
    assert found.route == "core-metadata"
    assert server.seen == ["redis-5.2.1-py3-none-any.whl.metadata"]


def test_advertised_metadata_with_the_wrong_hash_falls_back_to_the_wheel() -> None:
    server = Server(metadata=METADATA + b"tampered")
    found = one(server, wheel(core_metadata="0" * 64))
    assert found.route == "range"
    assert found.requires_dist == REQUIRES


def test_an_index_that_advertises_nothing_is_probed_for_the_metadata_file() -> None:
    server = Server(metadata=METADATA)
    found = one(server, wheel(core_metadata=None))
    assert found.route == "metadata-url"
    assert found.requires_dist == REQUIRES


def test_without_a_metadata_file_range_requests_read_only_the_metadata_entry() -> None:
    server = Server(metadata=None)
    found = one(server, wheel())
    assert found.route == "range"
    assert found.requires_dist == REQUIRES
    assert server.seen[0] == "redis-5.2.1-py3-none-any.whl.metadata"
    assert server.seen[1] == "redis-5.2.1-py3-none-any.whl bytes=-65536"
    assert len(server.seen) == 3  # the tail (central directory), then METADATA alone
    first, last = map(int, server.seen[2].split("=")[1].split("-"))
    assert first > 200_000 and last - first < 2_000


def test_a_server_without_ranges_gets_the_whole_wheel_read() -> None:
    server = Server(metadata=None, ranges=False)
    found = one(server, wheel())
    assert found.route == "download"
    assert found.requires_dist == REQUIRES


def test_a_downloaded_wheel_whose_hash_differs_is_an_error() -> None:
    server = Server(metadata=None, ranges=False)
    file = wheel(sha256="1" * 64)
    answer = client(server).get_many_sync([file])[file.url]
    assert isinstance(answer, MetadataError)
    assert str(answer) == "redis-5.2.1-py3-none-any.whl: its sha256 is not the index's"


def sdist_bytes(pkg_info: bytes) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        info = tarfile.TarInfo("demo-1.0/PKG-INFO")
        info.size = len(pkg_info)
        archive.addfile(info, io.BytesIO(pkg_info))
    return out.getvalue()


@pytest.mark.parametrize(
    ("header", "dynamic"),
    [
        ("Metadata-Version: 2.2\n", False),
        ("Metadata-Version: 2.2\nDynamic: Requires-Dist\n", True),
        ("Metadata-Version: 2.1\n", True),
    ],
)
def test_an_sdist_gives_its_pkg_info_and_whether_it_can_be_trusted(
    header: str, dynamic: bool
) -> None:
    body = sdist_bytes(f"{header}Name: demo\nVersion: 1.0\nRequires-Dist: six\n".encode())
    url = "https://files.example/demo-1.0.tar.gz"
    server = Server()
    server.files[url] = body
    file = ReleaseFile(filename="demo-1.0.tar.gz", url=url, sha256=hashlib.sha256(body).hexdigest())
    found = one(server, file)
    assert (found.requires_dist, found.dynamic, found.route) == (("six",), dynamic, "sdist")


def test_answers_are_cached_by_the_files_sha256(tmp_path: Path) -> None:
    server = Server(metadata=METADATA)
    first = one(server, wheel(), tmp_path)
    again = Server(metadata=None)
    assert one(again, wheel(), tmp_path) == first
    assert again.seen == []
    assert (tmp_path / f"{hashlib.sha256(WHEEL).hexdigest()}.json").is_file()


def test_an_index_that_keeps_failing_is_index_unavailable() -> None:
    def handler(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(503)

    failing = MetadataClient(cache_dir=None, transport=httpx.MockTransport(handler), retries=0)
    with pytest.raises(
        IndexUnavailableError, match=re.escape("redis-5.2.1-py3-none-any.whl.metadata")
    ):
        failing.get_many_sync([wheel()])


def test_a_refused_connection_fails_after_two_tries_as_for_index_pages() -> None:
    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        raise httpx.ConnectError("[Errno -2] Name or service not known", request=request)

    refused = MetadataClient(cache_dir=None, transport=httpx.MockTransport(handler), retries=5)
    with pytest.raises(IndexUnavailableError, match=r"ConnectError: .*Name or service not known"):
        refused.get_many_sync([wheel()])
    assert len(asked) == 2


def test_local_files_are_read_from_disk_without_the_network(tmp_path: Path) -> None:
    """--find-links folder files (file:// URLs): the wheel and the sdist read from disk."""
    (tmp_path / "redis-5.2.1-py3-none-any.whl").write_bytes(WHEEL)
    sdist = sdist_bytes(b"Metadata-Version: 2.2\nName: demo\nVersion: 1.0\nRequires-Dist: six\n")
    (tmp_path / "demo-1.0.tar.gz").write_bytes(sdist)
    files = [
        ReleaseFile(
            filename=name,
            url=(tmp_path / name).as_uri(),
            sha256=hashlib.sha256(body).hexdigest(),
        )
        for name, body in (("redis-5.2.1-py3-none-any.whl", WHEEL), ("demo-1.0.tar.gz", sdist))
    ]
    server = Server()

    answers = client(server).get_many_sync(files)

    assert server.seen == []
    found = [answers[f.url] for f in files]
    assert [(a.requires_dist, a.route) for a in found if isinstance(a, CoreMetadata)] == [
        (REQUIRES, "download"),
        (("six",), "sdist"),
    ]
