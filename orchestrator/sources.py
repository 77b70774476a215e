"""The host's side of requirements with sources of their own (``plan.sources``): archive
URLs and local archives go through the download store (fetched or copied once, sha256
checked), and a project folder becomes an sdist with ``uv build --sdist`` on the host,
then stored the same way. Wiring, like ``session``: it joins ``pypi`` to ``plan``."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from orchestrator.plan.sources import SourceError
from orchestrator.pypi.downloads import Downloader, DownloadError, FileRequest
from orchestrator.pypi.uv import uv_command
from orchestrator.urls import masked

__all__ = ["HostSources"]


class HostSources:
    """``plan.sources.SourceHost`` over ``<cache>/files`` and uv."""

    def __init__(self, cache_dir: Path) -> None:
        self.cache_dir = cache_dir.resolve()

    def fetch(self, url: str, filename: str, sha256: str | None) -> tuple[Path, str]:
        request = FileRequest(filename=filename, url=url, sha256=sha256)
        try:
            with Downloader.for_cache(self.cache_dir) as downloader:
                stored = downloader.fetch(request)
        except DownloadError as exc:
            raise SourceError(f"{masked(url)}: {exc.message}") from exc
        return stored.path, stored.sha256

    def sdist(self, folder: Path) -> tuple[Path, str]:
        out = self.cache_dir.resolve() / "sdists"
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="sdist-", dir=out) as tmp:
            cmd = [*uv_command(), "build", "--sdist", "--out-dir", tmp, str(folder)]
            # A fixed date, so backends that honour it (flit, hatchling, setuptools' gzip
            # header) make the same sdist, and the build cache hits, while the folder
            # is unchanged.
            env = {"SOURCE_DATE_EPOCH": "315532800", **os.environ, "UV_NO_PROGRESS": "1"}
            done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
            made = sorted(Path(tmp).glob("*.tar.gz"))
            if done.returncode != 0 or len(made) != 1:
                tail = "\n".join(done.stderr.strip().splitlines()[-5:])
                raise SourceError(f"`uv build --sdist {folder}` failed: {tail}")
            return self.fetch(made[0].as_uri(), made[0].name, None)
