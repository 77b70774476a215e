"""``--find-links`` folders and pages: their wheels and sdists, offered beside the index's.

A folder is listed as pip lists it (its own files, not its subfolders); each archive's
sha256 is computed here, so the plan, the download store and the wheelhouse's hash pins
treat it like an index file. A page (``-f https://host/wheels/``) is read for its links,
as pip reads one; the page is fetched by whoever calls (the planner's shell passes the
network in).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

from packaging.utils import NormalizedName

from orchestrator.errors import RequirementsError
from orchestrator.filenames import project_of
from orchestrator.model import ProjectPage, ReleaseFile
from orchestrator.plan.requirements import FindLinks

__all__ = ["FetchPage", "find_links_files", "merge_pages"]

#: A find-links page's HTML, given its URL.
FetchPage = Callable[[str], str]
_CHUNK = 1 << 16
SOURCE = "find-links"


def find_links_files(
    find_links: Sequence[FindLinks], fetch_page: FetchPage | None = None
) -> dict[NormalizedName, tuple[ReleaseFile, ...]]:
    """Every project's files across the ``--find-links`` entries, in their order."""
    found: dict[NormalizedName, list[ReleaseFile]] = {}
    for entry in find_links:
        for name, file in _entry_files(entry, fetch_page):
            found.setdefault(name, []).append(file)
    return {name: tuple(files) for name, files in found.items()}


def _entry_files(
    entry: FindLinks, fetch_page: FetchPage | None
) -> Iterator[tuple[NormalizedName, ReleaseFile]]:
    if entry.folder is not None:
        yield from _folder_files(entry.folder)
        return
    assert entry.url is not None
    if fetch_page is None:
        raise RequirementsError(
            f"{entry.location}: --find-links {entry.value}\n"
            "  a find-links page cannot be read here",
            hint="download the page's files into a folder and use --find-links FOLDER",
        )
    yield from _page_files(entry.url, fetch_page(entry.url))


def _folder_files(folder: Path) -> Iterator[tuple[NormalizedName, ReleaseFile]]:
    for path in sorted(folder.iterdir()):
        name = project_of(path.name)
        if name is None or not path.is_file():
            continue
        yield (
            name,
            ReleaseFile(
                filename=path.name,
                url=path.as_uri(),
                sha256=_sha256(path),
                size=path.stat().st_size,
                source=SOURCE,
            ),
        )


def _page_files(url: str, html: str) -> Iterator[tuple[NormalizedName, ReleaseFile]]:
    for href in _links(html):
        absolute = urljoin(url, href)
        parts = urlsplit(absolute)
        filename = unquote(parts.path.rsplit("/", 1)[-1])
        name = project_of(filename)
        if name is None:
            continue
        algorithm, _, digest = parts.fragment.partition("=")
        yield (
            name,
            ReleaseFile(
                filename=filename,
                url=absolute.split("#", 1)[0],
                sha256=digest.lower() if algorithm == "sha256" and digest else None,
                source=SOURCE,
            ),
        )


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self.hrefs.append(href)


def _links(html: str) -> list[str]:
    parser = _Anchors()
    parser.feed(html)
    return parser.hrefs


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def merge_pages(
    pages: Mapping[NormalizedName, ProjectPage | None],
    local: Mapping[NormalizedName, Iterable[ReleaseFile]],
) -> dict[NormalizedName, ProjectPage | None]:
    """Each project's index page with its find-links files first (a file of the same name
    on the index is the find-links one: the user put it there)."""
    merged = dict(pages)
    for name, files in local.items():
        if name not in merged:
            continue
        ours = tuple(files)
        names = {f.filename for f in ours}
        page = merged[name]
        theirs = tuple(f for f in page.files if f.filename not in names) if page else ()
        merged[name] = ProjectPage(name=name, files=ours + theirs)
    return merged
