"""The host side of source requirements: the download store part (no subprocess here)."""

from __future__ import annotations

import hashlib
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
