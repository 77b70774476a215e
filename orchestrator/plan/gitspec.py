"""Git requirement URLs, as pip and uv write them, split into repository, rev and folder.

``git+https://host/org/repo@v1.2#egg=name&subdirectory=sub`` (pip, requirements.txt) and
``https://host/org/repo.git?rev=v1.2&subdirectory=sub#<commit>`` (uv.lock). The rev is
what the user wrote (a branch, a tag or a commit); the host resolves it to a commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit, urlunsplit

__all__ = ["GitSpec", "from_lock", "from_requirement"]


@dataclass(frozen=True, kw_only=True)
class GitSpec:
    #: The repository URL git is handed (credentials, if any, left as written).
    url: str
    #: A branch, tag or commit; ``None``: the repository's default branch.
    rev: str | None = None
    #: The project's folder inside the repository.
    subdirectory: str | None = None
    #: The commit the lock file already names (uv.lock's fragment).
    locked_commit: str | None = None


def from_requirement(value: str) -> GitSpec:
    """``git+<url>[@rev][#egg=..&subdirectory=..]``."""
    url = value.removeprefix("git+")
    url, _, fragment = url.partition("#")
    parts = urlsplit(url)
    path, at, rev = parts.path.rpartition("@")
    if not at:
        path, rev = parts.path, ""
    options = parse_qs(fragment)
    return GitSpec(
        url=urlunsplit(parts._replace(path=path)),
        rev=rev or None,
        subdirectory=_first(options, "subdirectory"),
    )


def from_lock(value: str) -> GitSpec:
    """uv.lock's ``source = { git = "<url>?rev=..&subdirectory=..#<commit>" }``."""
    url, _, commit = value.partition("#")
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    rev = next((query[k][0] for k in ("rev", "tag", "branch") if k in query), None)
    return GitSpec(
        url=urlunsplit(parts._replace(query="")),
        rev=rev,
        subdirectory=_first(query, "subdirectory"),
        locked_commit=commit or None,
    )


def _first(options: dict[str, list[str]], key: str) -> str | None:
    values = options.get(key)
    return values[0] if values else None
