"""``paths.write_atomically``: the one way cache files are written."""

from __future__ import annotations

import errno
import stat
from pathlib import Path

import pytest

from orchestrator.errors import DiskFullError, ExitCode
from orchestrator.paths import CACHE_SETTING, space_checked, write_atomically


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


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
def test_a_full_disk_is_the_projects_error_naming_the_place(tmp_path: Path, code: int) -> None:
    with (
        pytest.raises(DiskFullError) as info,
        space_checked(tmp_path, "downloading six.whl", setting=CACHE_SETTING),
    ):
        raise OSError(code, "full")
    assert info.value.exit_code == ExitCode.DISK_FULL
    assert int(ExitCode.DISK_FULL) == 10
    assert info.value.message.endswith(
        f": {tmp_path}, while downloading six.whl (nothing half-written is kept)"
    )
    assert info.value.hint == (
        f"free space there (`df -h {tmp_path}`) or point `cache_dir:` in wheelhouse.yaml "
        "(or $WHEELHOUSE_CACHE_DIR) at a larger file system, then run the build again: "
        "what was downloaded or built before is kept"
    )


def test_other_os_errors_pass_through(tmp_path: Path) -> None:
    with pytest.raises(PermissionError), space_checked(tmp_path, "x", setting=CACHE_SETTING):
        raise PermissionError(errno.EACCES, "denied")
