"""The host side of source requirements: the download store part (no subprocess here)."""

from __future__ import annotations

import hashlib
import io
import subprocess
import tarfile
from pathlib import Path

import pytest

from orchestrator.plan.sources import SourceError
from orchestrator.sources import HostSources


def test_a_local_archive_is_stored_with_its_hash_and_a_wrong_hash_is_a_source_error(
    tmp_path: Path,
) -> None:
    archive = tmp_path / "vendor" / "thing-2.0.tar.gz"
    archive.parent.mkdir()
    archive.write_bytes(b"an sdist")
    host = HostSources(tmp_path / "cache")
    sha = hashlib.sha256(b"an sdist").hexdigest()

    stored, digest = host.fetch(archive.as_uri(), archive.name, sha)

    assert digest == sha
    assert stored == (tmp_path / "cache" / "files" / sha / archive.name).resolve()
    with pytest.raises(SourceError) as info:
        host.fetch(archive.as_uri(), "thing-2.0-copy.tar.gz", "0" * 64)
    assert f"sha256 mismatch for thing-2.0-copy.tar.gz: expected {'0' * 64}, got {sha}" in str(
        info.value
    )


def test_a_cached_checkout_is_built_from_a_copy_and_the_users_folder_in_place(
    tmp_path: Path,
) -> None:
    """setuptools writes its egg-info into the folder it packs (and rewrites a committed
    one): the checkout the cache keeps for a commit must stay as git made it."""
    host = HostSources(tmp_path / "cache")
    checkout = tmp_path / "cache" / "git" / "checkouts" / ("c" * 40)
    (checkout / ".git").mkdir(parents=True)
    (checkout / ".git" / "HEAD").write_text("c" * 40 + "\n")
    (checkout / "sub" / "tool.egg-info").mkdir(parents=True)
    (checkout / "sub" / "tool.egg-info" / "PKG-INFO").write_text("as committed")

    copied = host._pristine(checkout / "sub", tmp_path / "tmp" / "tree")
    (copied / "tool.egg-info" / "PKG-INFO").write_text("as a backend rewrites it")

    assert copied == tmp_path / "tmp" / "tree" / "sub"
    assert (tmp_path / "tmp" / "tree" / ".git" / "HEAD").read_text() == "c" * 40 + "\n"
    assert (checkout / "sub" / "tool.egg-info" / "PKG-INFO").read_text() == "as committed"
    mine = tmp_path / "libs" / "tool"
    mine.mkdir(parents=True)
    assert host._pristine(mine, tmp_path / "tmp" / "other") == mine.resolve()
    assert not (tmp_path / "tmp" / "other").exists()


def test_a_commits_sdist_is_made_once_and_a_users_folder_on_every_plan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Making the sdist is most of what a git source adds to a plan; a commit's is the
    same every time, so it is remembered (while its file is in the store)."""
    runs: list[list[str]] = []

    def uv_build(cmd: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        runs.append(cmd)
        out = Path(cmd[cmd.index("--out-dir") + 1])
        with tarfile.open(out / "tool-1.0.tar.gz", "w:gz") as archive:
            info = tarfile.TarInfo("tool-1.0/PKG-INFO")
            data = f"Metadata-Version: 2.1\nName: tool\nVersion: 1.0\n# {len(runs)}\n".encode()
            info.size, info.mtime = len(data), 1_764_000_000 + len(runs)
            archive.addfile(info, io.BytesIO(data))
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr("orchestrator.sources.subprocess.run", uv_build)
    host = HostSources(tmp_path / "cache")
    checkout = tmp_path / "cache" / "git" / "checkouts" / ("c" * 40)
    checkout.mkdir(parents=True)

    first = host.sdist(checkout, epoch=1_700_000_000)
    again = host.sdist(checkout, epoch=1_700_000_000)
    assert (len(runs), again) == (1, first)
    first[0].unlink()  # the store lost it: made again
    assert host.sdist(checkout, epoch=1_700_000_000)[0].name == "tool-1.0.tar.gz"
    assert len(runs) == 2

    mine = tmp_path / "libs" / "tool"
    mine.mkdir(parents=True)
    host.sdist(mine)
    host.sdist(mine)
    assert len(runs) == 4
