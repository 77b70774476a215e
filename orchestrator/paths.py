"""Where wheelhouse keeps its files between runs, and how a cache file is written."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path


def default_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The cache root: ``$WHEELHOUSE_CACHE_DIR``, else ``$XDG_CACHE_HOME/wheelhouse``, else
    ``~/.cache/wheelhouse``.

    Each user of the cache takes a subdirectory of its own (``http``, ``wheels``, ...).
    Empty variables count as unset, and so does a relative ``XDG_CACHE_HOME``, as the XDG
    base directory spec asks.
    """
    env = os.environ if environ is None else environ
    if explicit := env.get("WHEELHOUSE_CACHE_DIR"):
        return Path(explicit).expanduser()
    xdg = env.get("XDG_CACHE_HOME")
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "wheelhouse"
    return Path.home() / ".cache" / "wheelhouse"


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``path`` through a temporary file in its directory renamed into place: a
    killed run, or a concurrent one writing the same file, leaves the old content or the
    new, never a part. Readable by all (``mkstemp`` makes 0600), as the rest of the cache.
    ``OSError`` when it cannot be written (no temporary file is left behind)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".partial-", suffix=path.suffix, dir=path.parent)
    temp = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        temp.chmod(0o644)
        temp.replace(path)
    finally:
        temp.unlink(missing_ok=True)
