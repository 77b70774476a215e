"""Where wheelhouse keeps its files between runs."""

from __future__ import annotations

import os
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
