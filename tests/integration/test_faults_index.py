"""Index and download faults against real sockets: a threaded HTTP server on loopback that
drops connections, stalls, answers 429 with Retry-After and 5xx, sends truncated or
non-JSON pages and files whose sha256 is not the one listed; a port nobody listens on; a
host name under ``.invalid`` (RFC 6761: never resolves). No engine, no PyPI: a few seconds.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from packaging.utils import canonicalize_name

from orchestrator.errors import IndexUnavailableError
from orchestrator.pypi.downloads import (
    Downloader,
    DownloadError,
    FileRequest,
    FileStore,
    HashMismatchError,
)
from orchestrator.pypi.index import IndexClient, IndexConfig

WHEEL = b"not really a wheel, but bytes with a known digest"
WHEEL_SHA = hashlib.sha256(WHEEL).hexdigest()


class Faulty(BaseHTTPRequestHandler):
    """``/simple/<fault>/`` and ``/files/<fault>/<name>``: the first answer of each path is
    the fault, the ones after it are good (a fault whose name ends in ``-always`` stays)."""

    counts: ClassVar[Counter[str]]
    times: ClassVar[dict[str, list[float]]]
    lock: ClassVar[threading.Lock]

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        with self.lock:
            self.counts[self.path] += 1
            first = self.counts[self.path] == 1
            self.times.setdefault(self.path, []).append(time.monotonic())
        parts = self.path.strip("/").split("/")
        fault = parts[1] if len(parts) > 1 else ""
        if (first or fault.endswith("-always")) and self._fault(fault.removesuffix("-always")):
            return
        if parts[0] == "simple":
            self._json(self._page(fault))
        else:
            self._send(200, "application/octet-stream", WHEEL)

    def _fault(self, fault: str) -> bool:
        match fault:
            case "drop":  # the connection closes before any answer
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
            case "stall":
                time.sleep(2.0)
                self._json(self._page(fault))
            case "ratelimit":
                self.send_response(429)
                self.send_header("Retry-After", "1")
                self.send_header("Content-Length", "0")
                self.end_headers()
            case "unavailable":
                self._send(503, "text/plain", b"busy")
            case "truncated":
                self._send(200, "application/vnd.pypi.simple.v1+json", b'{"files": [{"filen')
            case "html":
                self._send(200, "text/html", b"<html></html>")
            case "lie":
                self._send(200, "application/octet-stream", WHEEL + b"tampered")
            case "cut":  # promises more bytes than it sends, then closes
                self.send_response(200)
                self.send_header("Content-Length", str(len(WHEEL) * 2))
                self.end_headers()
                self.wfile.write(WHEEL[:10])
                self.close_connection = True
            case _:
                return False
        return True

    def _page(self, fault: str) -> dict[str, object]:
        name = f"{fault}-1.0-py3-none-any.whl"
        return {
            "meta": {"api-version": "1.1"},
            "files": [
                {"filename": name, "url": f"/files/ok/{name}", "hashes": {"sha256": WHEEL_SHA}}
            ],
        }

    def _json(self, data: object) -> None:
        self._send(200, "application/vnd.pypi.simple.v1+json", json.dumps(data).encode())

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Server:
    def __init__(self) -> None:
        class Handler(Faulty):
            counts: ClassVar[Counter[str]] = Counter()
            times: ClassVar[dict[str, list[float]]] = {}
            lock: ClassVar[threading.Lock] = threading.Lock()

        handler = Handler
        self.handler: type[Faulty] = handler
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def counts(self) -> Counter[str]:
        return self.handler.counts


@pytest.fixture
def server() -> Iterator[Server]:
    found = Server()
    found.thread.start()
    yield found
    found.httpd.shutdown()
    found.httpd.server_close()


def index(url: str, **kwargs: object) -> IndexClient:
    return IndexClient(IndexConfig(index_url=url), cache=None, jitter=lambda: 0.0, **kwargs)  # type: ignore[arg-type]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("fault", ["drop", "unavailable", "ratelimit"])
def test_retried_faults_end_in_the_page(server: Server, fault: str) -> None:
    pages = index(f"{server.url}/simple").get_projects_sync([fault])
    page = pages[canonicalize_name(fault)]
    assert page is not None and page.files[0].filename == f"{fault}-1.0-py3-none-any.whl"
    assert server.counts[f"/simple/{fault}/"] == 2


def test_retry_after_is_honoured(server: Server) -> None:
    index(f"{server.url}/simple").get_projects_sync(["ratelimit"])
    first, second = server.handler.times["/simple/ratelimit/"]
    assert second - first >= 1.0  # Retry-After: 1, where the backoff alone waits 0.5 s


def test_a_stall_times_out_and_is_retried(server: Server) -> None:
    started = time.monotonic()
    pages = index(f"{server.url}/simple", timeout=0.5).get_projects_sync(["stall"])
    assert pages[canonicalize_name("stall")] is not None
    assert server.counts["/simple/stall/"] == 2
    assert time.monotonic() - started < 2.0  # the stalled answer was not waited for


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("truncated-always", "sent a malformed page for truncated-always"),
        ("html-always", "answered text/html for html-always, not the JSON Simple API"),
    ],
)
def test_bad_pages_are_errors_naming_the_index(server: Server, fault: str, message: str) -> None:
    with pytest.raises(IndexUnavailableError) as caught:
        index(f"{server.url}/simple").get_projects_sync([fault])
    assert caught.value.message.startswith(f"package index {server.url}/simple {message}")
    assert server.counts[f"/simple/{fault}/"] == 1  # not retried


def test_a_refused_connection_fails_fast_naming_the_index() -> None:
    url = f"http://127.0.0.1:{free_port()}/simple"
    started = time.monotonic()
    with pytest.raises(IndexUnavailableError) as caught:
        index(url).get_projects_sync(["six"])
    assert caught.value.message.startswith(
        f"package index {url} cannot be reached (asking for six, 2 tries): ConnectError"
    )
    assert time.monotonic() - started < 3.0


def test_a_host_that_does_not_resolve_fails_fast_from_the_cli(tmp_path: Path) -> None:
    """What a user sees: ``wheelhouse plan`` with an index whose name cannot resolve."""
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("--index-url https://wheelhouse-test.invalid/simple\nsix==1.16.0\n")
    env = {**os.environ, "WHEELHOUSE_CACHE_DIR": str(tmp_path / "cache")}
    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "orchestrator.cli",
            "plan",
            "-r",
            str(requirements),
            "-t",
            "cp311-manylinux_2_36_x86_64",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    seconds = time.monotonic() - started
    assert done.returncode == 7, done.stderr
    assert "package index https://wheelhouse-test.invalid/simple cannot be reached" in done.stderr
    assert "Traceback" not in done.stderr
    assert seconds < 20, seconds  # was 81-91 s of backoff before


def test_a_file_that_lies_about_its_hash_is_never_stored(server: Server, tmp_path: Path) -> None:
    store = FileStore(tmp_path / "files")
    name = "lie-1.0-py3-none-any.whl"
    url = f"{server.url}/files/lie-always/{name}"
    with (
        Downloader(store, sleep=lambda _: None) as loader,
        pytest.raises(HashMismatchError) as caught,
    ):
        loader.fetch(FileRequest(filename=name, url=url, sha256=WHEEL_SHA))
    assert caught.value.message.startswith(f"sha256 mismatch for {name}: expected {WHEEL_SHA}")
    assert url in caught.value.message
    assert [p for p in store.root.rglob("*") if p.is_file()] == []  # no partial file either


def test_a_cut_download_is_retried_and_checked(server: Server, tmp_path: Path) -> None:
    store = FileStore(tmp_path / "files")
    name = "cut-1.0-py3-none-any.whl"
    with Downloader(store, sleep=lambda _: None) as loader:
        stored = loader.fetch(
            FileRequest(filename=name, url=f"{server.url}/files/cut/{name}", sha256=WHEEL_SHA)
        )
    assert stored.path.read_bytes() == WHEEL
    assert server.counts[f"/files/cut/{name}"] == 2


def test_retry_after_is_honoured_by_downloads(server: Server, tmp_path: Path) -> None:
    """The real clock: the retry waits the server's 1 s, not the 0.5 s backoff."""
    name = "ratelimit-1.0-py3-none-any.whl"
    url = f"{server.url}/files/ratelimit/{name}"
    with Downloader(FileStore(tmp_path / "files")) as loader:
        stored = loader.fetch(FileRequest(filename=name, url=url, sha256=WHEEL_SHA))
    assert stored.path.read_bytes() == WHEEL
    first, second = server.handler.times[f"/files/ratelimit/{name}"]
    assert second - first >= 1.0


def test_a_refused_download_fails_after_two_tries(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/files/x-1.0-py3-none-any.whl"
    request = FileRequest(filename="x-1.0-py3-none-any.whl", url=url, sha256=WHEEL_SHA)
    loader = Downloader(FileStore(tmp_path / "files"), sleep=lambda _: None)
    with loader, pytest.raises(DownloadError, match="after 2 attempts"):
        loader.fetch(request)
