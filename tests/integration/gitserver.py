"""Git repositories for the integration tests: made with the real git, served on loopback.

``git`` runs git with a fixed identity (commits made here need no user configuration);
``GitHttpServer`` is git's own smart HTTP server, ``git http-backend`` run as a CGI
program behind a ``ThreadingHTTPServer`` on 127.0.0.1, as a forge serves ``https://``
(uv and pip users' URLs) minus TLS. Every request is a real CGI run: the request body is
streamed to the backend, its ``Status:`` and headers are sent back, then its output.
"""

from __future__ import annotations

import base64
import http.server
import io
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO
from urllib.parse import unquote

__all__ = ["GIT", "GitHttpServer", "bare_clone", "git", "serve_git"]

GIT = (
    "git",
    "-c",
    "user.email=t@example.invalid",
    "-c",
    "user.name=t",
    "-c",
    "protocol.file.allow=always",
    "-c",
    "init.defaultBranch=main",
)
HTTP_BACKEND = Path("/usr/lib/git-core/git-http-backend")


def git(cwd: Path, *args: str) -> str:
    """``git ARGS`` in ``cwd`` (checked); its output, stripped."""
    done = subprocess.run([*GIT, *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


class _Backend(http.server.BaseHTTPRequestHandler):
    """One request, one ``git http-backend`` run (HTTP/1.0: the connection then closes,
    so the backend's output needs no length)."""

    root: Path
    #: ``Authorization`` every request must carry (HTTP Basic), else 401; ``None``: open.
    authorization: str | None = None

    def do_GET(self) -> None:
        self._cgi()

    def do_POST(self) -> None:
        self._cgi()

    def log_message(self, format: str, *args: object) -> None:
        del format, args  # git's requests are not the test's output

    def _cgi(self) -> None:
        if self.authorization and self.headers.get("Authorization") != self.authorization:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        path, _, query = self.path.partition("?")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GATEWAY_INTERFACE": "CGI/1.1",
            "PATH_INFO": unquote(path),
            "QUERY_STRING": query,
            "REQUEST_METHOD": self.command,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "REMOTE_ADDR": self.client_address[0],
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
        }
        length = self.headers.get("Content-Length")
        if length is not None:
            env["CONTENT_LENGTH"] = length
        with tempfile.TemporaryFile() as errors:
            backend = subprocess.Popen(
                [str(HTTP_BACKEND)],
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=errors,
            )
            assert backend.stdin is not None and backend.stdout is not None
            feeder = threading.Thread(target=self._feed, args=(backend.stdin, length))
            feeder.start()
            self._answer(backend.stdout)
            feeder.join()
            backend.wait()

    def _feed(self, stdin: IO[bytes], length: str | None) -> None:
        """The request body into the backend: ``Content-Length`` bytes, or git's chunked
        body (a large fetch negotiation), de-chunked, with the backend reading to EOF."""
        try:
            if length is not None:
                _copy(self.rfile, stdin, int(length))
            elif self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                    _copy(self.rfile, stdin, size)
                    self.rfile.readline()
                self.rfile.readline()
        except BrokenPipeError:
            pass  # the backend answered (an error) without reading the body
        finally:
            with suppress(BrokenPipeError):
                stdin.close()

    def _answer(self, stdout: IO[bytes]) -> None:
        status, headers = "200 OK", []
        while line := stdout.readline().rstrip(b"\r\n"):
            key, _, value = line.decode("latin-1").partition(":")
            if key.lower() == "status":
                status = value.strip()
            else:
                headers.append((key, value.strip()))
        code, _, reason = status.partition(" ")
        self.send_response(int(code), reason or None)
        for key, value in headers:
            self.send_header(key, value)
        self.end_headers()
        shutil.copyfileobj(stdout, self.wfile)


def _copy(source: io.BufferedIOBase, sink: IO[bytes], size: int) -> None:
    while size > 0:
        chunk = source.read(min(size, 65536))
        if not chunk:
            return
        sink.write(chunk)
        size -= len(chunk)


class GitHttpServer:
    """The bare repositories under ``root`` at ``http://127.0.0.1:<port>/<name>.git``."""

    def __init__(self, root: Path, server: http.server.ThreadingHTTPServer) -> None:
        self.root = root
        self.server = server

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def repository(self, name: str, userinfo: str = "") -> str:
        """``<name>.git``'s URL (``userinfo``: ``user:password`` written into it)."""
        return f"http://{userinfo + '@' if userinfo else ''}{self.url[7:]}/{name}.git"


def bare_clone(work: Path, root: Path, name: str) -> str:
    """The repository of the work tree ``work`` as ``root/<name>.git``; its HEAD commit."""
    root.mkdir(parents=True, exist_ok=True)
    git(root, "clone", "--quiet", "--bare", str(work), f"{name}.git")
    return git(root / f"{name}.git", "rev-parse", "HEAD")


@contextmanager
def serve_git(root: Path, *, login: tuple[str, str] | None = None) -> Iterator[GitHttpServer]:
    """``git http-backend`` over the bare repositories in ``root``, on 127.0.0.1, for the
    ``with`` block; ``login``: the user and password it asks for (HTTP Basic), as a
    private forge does."""
    root.mkdir(parents=True, exist_ok=True)
    basic = "Basic " + base64.b64encode(":".join(login).encode()).decode() if login else None
    handler = type("Backend", (_Backend,), {"root": root, "authorization": basic})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield GitHttpServer(root, server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
