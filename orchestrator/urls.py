"""Every URL wheelhouse reads from a file or the environment is parsed here.

``urllib.parse.urlsplit`` raises a bare ``ValueError`` for a host such as ``[pypi.org``
("Invalid IPv6 URL") or ``[package]`` (an ``ipaddress`` error), and so does ``.port`` for
``host:abc``; httpx refuses a few more. Callers turn ``url_problem``'s answer into their own
error with the file and line or field, so a typo in a URL never ends in a traceback.
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult, urlsplit
from urllib.request import url2pathname

import httpx

#: Schemes whose URLs are fetched over the network (the others are paths or VCS specs).
_FETCHED = ("http", "https")


def split_url(url: str) -> SplitResult | None:
    """``urlsplit(url)``, or ``None`` when ``url`` is malformed (never raises)."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # validates the port: "host:abc" raises only here
    except ValueError:
        return None
    return parts


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be used, in words for a message; ``None`` when it can."""
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError as exc:
        return f"malformed URL {url!r}: {exc}"
    if parts.scheme.lower() in _FETCHED:
        if not parts.hostname:
            return f"malformed URL {url!r}: no host name"
        try:
            httpx.URL(url)
        except httpx.InvalidURL as exc:
            return f"malformed URL {url!r}: {exc}"
    return None


def url_path_name(url: str) -> str:
    """The last segment of ``url``'s path (a file name), ``""`` for a malformed URL."""
    parts = split_url(url)
    return "" if parts is None else parts.path.rstrip("/").rsplit("/", 1)[-1]


def url_to_path(url: str) -> str:
    """The local path a ``file:`` URL names (``file:///srv/wheels`` -> ``/srv/wheels``)."""
    parts = split_url(url)
    return url2pathname(parts.path) if parts is not None else url


def masked(url: str) -> str:
    """``url`` with any user name and password replaced by ``****``, for printing."""
    parts = split_url(url)
    if parts is None or "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return parts._replace(netloc=f"****@{host}").geturl()


def shown_location(url: str) -> str:
    """A file URL as its path, any other URL masked (for tables and messages)."""
    if url.lower().startswith("file:"):
        return url_to_path(url)
    return masked(url)


_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]+@")


def mask_userinfo(text: str) -> str:
    """Every URL's user name and password in ``text`` replaced by ``****`` (messages that
    quote a line or another tool's output)."""
    return _USERINFO.sub(r"\g<scheme>****@", text)
