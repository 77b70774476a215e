"""The retry rule every request to an index shares (pages, metadata, downloads).

5xx, 429, timeouts and dropped connections are retried with backoff by each caller. A host
name that does not resolve, or a connection refused (``httpx.ConnectError``), is tried once
more (a blip) and then fails: a wrong or unreachable index does not wait out the backoff.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import httpx

#: The longest ``Retry-After`` honoured (a longer one waits this long, then tries again).
MAX_RETRY_AFTER = 60.0
#: Tries for a name that does not resolve or a connection refused (``httpx.ConnectError``).
CONNECT_TRIES = 2


@dataclass
class Refusals:
    """The refused connections (or unresolved host names) met by one request's tries."""

    count: int = 0

    def note(self, exc: BaseException) -> bool:
        """Count ``exc`` if it is one; true once the request should stop trying."""
        self.count += isinstance(exc, httpx.ConnectError)
        return self.count >= CONNECT_TRIES


def retry_after(response: httpx.Response, now: float | None = None) -> float | None:
    """Seconds a 429/503 asks to wait (``Retry-After``: seconds or an HTTP date), capped
    at ``MAX_RETRY_AFTER``; ``None`` when absent or unreadable (the backoff will do)."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        seconds = when - (time.time() if now is None else now)
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)
