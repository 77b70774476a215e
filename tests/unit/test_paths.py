"""``paths.write_atomically``: the one way cache files are written."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from orchestrator.paths import write_atomically


def test_a_cache_file_is_replaced_whole_and_readable_by_all(tmp_path: Path) -> None:
    path = tmp_path / "new" / "dir" / "record.json"
    write_atomically(path, b"first\n")
    write_atomically(path, b"second\n")
    assert path.read_bytes() == b"second\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert sorted(p.name for p in path.parent.iterdir()) == ["record.json"]


def test_a_file_that_cannot_be_put_in_place_leaves_no_temporary_file(tmp_path: Path) -> None:
    in_the_way = tmp_path / "record.json"
    in_the_way.mkdir()  # a directory where the file should go: the rename fails
    with pytest.raises(OSError):
        write_atomically(in_the_way, b"x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["record.json"]
    assert list(in_the_way.iterdir()) == []
