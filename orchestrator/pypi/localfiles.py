"""``file://`` URLs read like the index's, so local files (``--find-links`` folders, uv.lock
``path`` sources) are fetched, hashed and stored exactly like index files.

httpx cannot send them: it takes a URL with no host (``file:///srv/x.whl``) as relative and
merges it with the client's base URL, so a mounted transport never sees one. The download
store and the metadata reader ask here first instead. A GET answers the whole file (200;
a ``Range`` header is ignored, so readers fall back to the whole file, as for an index
that serves no ranges) or 404 when it is not there (``<wheel>.metadata`` probes).
"""

from __future__ import annotations

from pathlib import Path

import httpx

from orchestrator.urls import url_to_path

__all__ = ["is_file_url", "local_response"]


def is_file_url(url: str) -> bool:
    return url[:5].lower() == "file:"


def local_response(url: str) -> httpx.Response:
    """The answer an HTTP server would give for the file ``url`` names."""
    request = httpx.Request("GET", "http://localhost/")  # a response needs some request
    path = Path(url_to_path(url))
    try:
        content = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return httpx.Response(404, request=request)
    except OSError as exc:
        raise httpx.ConnectError(f"cannot read {path}: {exc}", request=request) from exc
    return httpx.Response(200, content=content, request=request)
