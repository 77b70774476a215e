"""The retry rule every request to an index shares (pages, metadata, downloads).

5xx, 429, timeouts and dropped connections are retried with backoff by each caller. A host
name that does not resolve, or a connection refused (``httpx.ConnectError``), is tried once
more (a blip) and then fails: a wrong or unreachable index does not wait out the backoff.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

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
