"""Downloader and FileStore against ``httpx.MockTransport``: no network, no waiting."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from orchestrator.errors import ExitCode
from orchestrator.pypi.downloads import (
    Downloader,
    DownloadError,
    FileRequest,
    FileStore,
    HashMismatchError,
    link_or_copy,
    sha256_of,
)
from orchestrator.pypi.retry import retry_after

BODY = b"wheel bytes " * 1000
SHA = hashlib.sha256(BODY).hexdigest()
URL = "https://files.example/packages/demo-1.0-py3-none-any.whl"


class Server:
    """A handler that serves ``BODY`` (or a scripted sequence of statuses) and counts."""

    def __init__(self, statuses: list[int] | None = None, body: bytes = BODY) -> None:
        self.statuses = list(statuses or [])
        self.body = body
        self.calls = 0
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.calls += 1
            status = self.statuses.pop(0) if self.statuses else 200
        if status != 200:
            return httpx.Response(status)
        return httpx.Response(200, content=self.body)


def downloader(tmp_path: Path, handler: Callable[[httpx.Request], httpx.Response]) -> Downloader:
    client = httpx.Client(transport=httpx.MockTransport(handler))
    return Downloader(FileStore(tmp_path / "files"), client, sleep=lambda _s: None)


def request(sha: str | None = SHA, filename: str = "demo-1.0-py3-none-any.whl") -> FileRequest:
    return FileRequest(filename=filename, url=URL, sha256=sha)


def test_a_file_lands_under_its_sha256(tmp_path: Path) -> None:
    stored = downloader(tmp_path, Server()).fetch(request())
    assert stored.path == tmp_path / "files" / SHA / "demo-1.0-py3-none-any.whl"
    assert stored.path.read_bytes() == BODY
    assert stored.sha256 == SHA


def test_a_stored_file_is_readable_by_everyone(tmp_path: Path) -> None:
    # Wheelhouses hard-link it: a web server or another user must be able to read it.
    stored = downloader(tmp_path, Server()).fetch(request())
    assert stored.path.stat().st_mode & 0o777 == 0o644


def test_a_stored_file_is_not_fetched_again(tmp_path: Path) -> None:
    server = Server()
    first = downloader(tmp_path, server).fetch(request())
    again = downloader(tmp_path, server).fetch(request())
    assert server.calls == 1
    assert again == first


def test_an_upper_case_hash_finds_the_stored_file(tmp_path: Path) -> None:
    server = Server()
    downloader(tmp_path, server).fetch(request())
    downloader(tmp_path, server).fetch(request(SHA.upper()))
    assert server.calls == 1


def test_hash_mismatch_names_file_expected_and_actual_and_keeps_nothing(tmp_path: Path) -> None:
    wrong = "0" * 64
    with pytest.raises(HashMismatchError) as info:
        downloader(tmp_path, Server()).fetch(request(wrong))
    assert info.value.message == (
        f"sha256 mismatch for demo-1.0-py3-none-any.whl: expected {wrong}, got {SHA} "
        f"(from {URL}); the file was not kept"
    )
    assert info.value.exit_code == ExitCode.INDEX_UNAVAILABLE
    assert [p for p in (tmp_path / "files").rglob("*") if p.is_file()] == []


def test_without_a_known_hash_the_file_is_stored_under_its_actual_hash(tmp_path: Path) -> None:
    stored = downloader(tmp_path, Server()).fetch(request(None))
    assert stored.sha256 == SHA
    assert stored.path.parent.name == SHA


def test_server_errors_are_retried_with_backoff(tmp_path: Path) -> None:
    server = Server(statuses=[503, 502])
    sleeps: list[float] = []
    client = httpx.Client(transport=httpx.MockTransport(server))
    loader = Downloader(FileStore(tmp_path / "files"), client, sleep=sleeps.append, backoff=0.5)
    assert loader.fetch(request()).path.read_bytes() == BODY
    assert server.calls == 3
    assert sleeps == [0.5, 1.0]


def test_a_refused_connection_is_tried_twice(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    loader = downloader(tmp_path, handler)
    with pytest.raises(DownloadError) as info:
        loader.fetch(request())
    assert info.value.message.startswith(
        f"could not download demo-1.0-py3-none-any.whl from {URL} after 2 attempts:"
    )


def test_transport_errors_give_up_after_the_retries(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadError("connection reset", request=request)

    loader = downloader(tmp_path, handler)
    with pytest.raises(DownloadError) as info:
        loader.fetch(request())
    assert info.value.message.startswith(
        f"could not download demo-1.0-py3-none-any.whl from {URL} after 4 attempts:"
    )
    assert info.value.hint is not None


def test_a_404_is_not_retried(tmp_path: Path) -> None:
    server = Server(statuses=[404])
    with pytest.raises(DownloadError, match="HTTP 404"):
        downloader(tmp_path, server).fetch(request())
    assert server.calls == 1


def test_fetch_all_keeps_the_order_of_the_requests(tmp_path: Path) -> None:
    bodies = {f"p{i}-1.0-py3-none-any.whl": f"body {i}".encode() for i in range(6)}

    def handler(req: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=bodies[req.url.path.rsplit("/", 1)[1]])

    wanted = [
        FileRequest(
            filename=name,
            url=f"https://files.example/{name}",
            sha256=hashlib.sha256(body).hexdigest(),
        )
        for name, body in bodies.items()
    ]
    stored = downloader(tmp_path, handler).fetch_all(wanted)
    assert [s.filename for s in stored] == list(bodies)
    assert [s.path.read_bytes() for s in stored] == list(bodies.values())


@pytest.mark.parametrize("filename", ["../evil.whl", ".hidden", "a/b.whl", ""])
def test_the_store_refuses_paths_that_are_not_plain_names(tmp_path: Path, filename: str) -> None:
    with pytest.raises(ValueError, match="not a plain file name"):
        FileStore(tmp_path).path_for(SHA, filename)


def test_the_store_refuses_something_that_is_not_a_sha256(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a sha256"):
        FileStore(tmp_path).path_for("../../etc", "x.whl")


def test_sha256_of_and_link_or_copy(tmp_path: Path) -> None:
    source = tmp_path / "a.whl"
    source.write_bytes(BODY)
    dest = tmp_path / "deep" / "b.whl"
    link_or_copy(source, dest)
    link_or_copy(source, dest)  # a second time replaces, never fails
    assert sha256_of(dest) == SHA


def test_the_downloader_closes_its_client(tmp_path: Path) -> None:
    with downloader(tmp_path, Server()) as loader:
        loader.fetch(request())
    assert loader.client.is_closed


def test_a_local_file_url_is_copied_into_the_store_with_its_hash_checked(tmp_path: Path) -> None:
    """--find-links folders and uv.lock path sources: file:// URLs, never the network."""
    local = tmp_path / "wheels" / "demo-1.0-py3-none-any.whl"
    local.parent.mkdir()
    local.write_bytes(BODY)
    server = Server()
    with downloader(tmp_path, server) as dl:
        stored = dl.fetch(FileRequest(filename=local.name, url=local.as_uri(), sha256=SHA))
        assert stored.path.read_bytes() == BODY
        assert stored.sha256 == SHA
        local.write_bytes(b"changed since the plan")
        other = FileRequest(filename="demo-2.0-py3-none-any.whl", url=local.as_uri(), sha256=SHA)
        with pytest.raises(HashMismatchError):
            dl.fetch(other)
        local.unlink()
        with pytest.raises(DownloadError) as info:
            dl.fetch(replace_name(other, "demo-3.0-py3-none-any.whl"))
    assert server.calls == 0
    assert info.value.message == f"could not read demo-3.0-py3-none-any.whl: {local} is gone"


def replace_name(request: FileRequest, filename: str) -> FileRequest:
    return FileRequest(filename=filename, url=request.url, sha256=request.sha256)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("2", 2.0),
        ("600", 60.0),  # capped
        ("Thu, 03 Dec 2026 12:00:30 GMT", 30.0),  # an HTTP date, 30 s from now
        ("Thu, 03 Dec 2026 11:00:00 GMT", 0.0),  # in the past
        ("soon", None),
    ],
)
def test_retry_after_in_seconds_or_as_a_date(header: str, seconds: float | None) -> None:
    now = datetime(2026, 12, 3, 12, 0, 0, tzinfo=UTC).timestamp()
    response = httpx.Response(429, headers={"Retry-After": header})
    assert retry_after(response, now=now) == seconds
