"""--find-links folders and pages: their files, hashed, merged into the index's pages."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from packaging.utils import NormalizedName as N

from orchestrator.errors import RequirementsError
from orchestrator.filenames import project_of
from orchestrator.model import Location, ProjectPage, ReleaseFile
from orchestrator.plan.findlinks import find_links_files, merge_pages
from orchestrator.plan.requirements import FindLinks

WHERE = Location(file=Path("/app/requirements.txt"), line=1)


def folder_entry(folder: Path) -> FindLinks:
    return FindLinks(location=WHERE, value="wheels", folder=folder)


def test_a_folder_lists_its_own_wheels_and_sdists_with_their_sha256(tmp_path: Path) -> None:
    (tmp_path / "Tiny_Pkg-0.1.0.tar.gz").write_bytes(b"sdist")
    (tmp_path / "tiny_pkg-0.1.0-py3-none-any.whl").write_bytes(b"wheel")
    (tmp_path / "other-2.0.zip").write_bytes(b"zip sdist")
    (tmp_path / "notes.txt").write_text("no")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "deep-1.0.tar.gz").write_bytes(b"not listed")

    found = find_links_files([folder_entry(tmp_path)])

    assert sorted(found) == ["other", "tiny-pkg"]
    assert [f.filename for f in found[N("tiny-pkg")]] == [
        "Tiny_Pkg-0.1.0.tar.gz",
        "tiny_pkg-0.1.0-py3-none-any.whl",
    ]
    sdist = found[N("tiny-pkg")][0]
    assert sdist == ReleaseFile(
        filename="Tiny_Pkg-0.1.0.tar.gz",
        url=(tmp_path / "Tiny_Pkg-0.1.0.tar.gz").as_uri(),
        sha256=hashlib.sha256(b"sdist").hexdigest(),
        size=5,
        source="find-links",
    )


def test_a_page_is_read_for_its_links_relative_to_its_url() -> None:
    html = (
        '<html><body><a href="tiny-0.1.0-py3-none-any.whl#sha256=' + "A" * 64 + '">x</a>'
        '<a href="/abs/tiny-0.1.0.tar.gz">y</a><a href="../index.html">up</a><a>none</a>'
        "</body></html>"
    )
    asked: list[str] = []

    def fetch(url: str) -> str:
        asked.append(url)
        return html

    page = "https://dl.example/wheels/"
    entry = FindLinks(location=WHERE, value=page, url=page)
    found = find_links_files([entry], fetch)

    assert asked == [page]
    assert found == {
        N("tiny"): (
            ReleaseFile(
                filename="tiny-0.1.0-py3-none-any.whl",
                url="https://dl.example/wheels/tiny-0.1.0-py3-none-any.whl",
                sha256="a" * 64,
                source="find-links",
            ),
            ReleaseFile(
                filename="tiny-0.1.0.tar.gz",
                url="https://dl.example/abs/tiny-0.1.0.tar.gz",
                source="find-links",
            ),
        )
    }


def test_a_page_with_no_way_to_fetch_it_is_an_error() -> None:
    entry = FindLinks(location=WHERE, value="https://dl.example/", url="https://dl.example/")
    with pytest.raises(RequirementsError) as info:
        find_links_files([entry])
    assert info.value.message == (
        "/app/requirements.txt:1: --find-links https://dl.example/\n"
        "  a find-links page cannot be read here"
    )


def file(name: str, source: str | None = None) -> ReleaseFile:
    return ReleaseFile(filename=name, url=f"https://x/{name}", sha256="0" * 64, source=source)


def test_merge_puts_find_links_files_first_and_replaces_same_names() -> None:
    index = ProjectPage(
        name=N("six"), files=(file("six-1.0.tar.gz"), file("six-1.0-py3-none-any.whl"))
    )
    local = {
        N("six"): (file("six-1.0-py3-none-any.whl", "find-links"),),
        N("tiny"): (file("tiny-0.1.tar.gz", "find-links"),),
        N("unasked"): (file("unasked-1.0.tar.gz", "find-links"),),
    }

    merged = merge_pages({N("six"): index, N("tiny"): None}, local)

    assert merged[N("six")] == ProjectPage(
        name=N("six"),
        files=(file("six-1.0-py3-none-any.whl", "find-links"), file("six-1.0.tar.gz")),
    )
    assert merged[N("tiny")] == ProjectPage(
        name=N("tiny"), files=(file("tiny-0.1.tar.gz", "find-links"),)
    )
    assert N("unasked") not in merged


@pytest.mark.parametrize(
    ("filename", "name"),
    [("a_b-1.0.tar.gz", "a-b"), ("x-1-py3-none-any.whl", "x"), ("README", None), ("y.whl", None)],
)
def test_project_of(filename: str, name: str | None) -> None:
    assert project_of(filename) == name
