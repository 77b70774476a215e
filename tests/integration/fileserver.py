"""A folder served over HTTP on loopback, as a web server or a find-links host serves
one: ``http.server``'s ``SimpleHTTPRequestHandler`` (files, and an HTML listing of links
for a folder) behind a ``ThreadingHTTPServer`` on 127.0.0.1, on a free port.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def serve_folder(root: Path) -> Iterator[str]:
    """Serve ``root`` while the block runs: its base URL, ``http://127.0.0.1:PORT``."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
