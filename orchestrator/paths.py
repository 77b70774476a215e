"""Where wheelhouse keeps its files between runs, and how a cache file is written."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from orchestrator.errors import BadInputError, DiskFullError


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


def read_text(path: Path, *, what: str, error: type[BadInputError], hint: str) -> str:
    """The text of an input file (``what``: "config file", "uv.lock"...), decoded here.

    Every file a user hands wheelhouse is read through this: UTF-8, a leading BOM dropped.
    A missing or unreadable file, or one that is not UTF-8 or holds a NUL byte, raises
    ``error`` naming the file (and the line of the first bad byte); ``hint`` says how to
    point at the right one.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise error(f"{what} not found: {path}", hint=hint) from None
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror or exc}", hint=hint) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise error(
            f"{path}:{line}: not UTF-8 text (byte {exc.start}: {exc.reason})",
            hint="save the file as UTF-8",
        ) from None
    # No text format wheelhouse reads holds a NUL, and the OS refuses one in a path
    # (a requirements line taken as a local path crashed on it: found by fuzz_inputs).
    nul = data.find(b"\0")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise error(
            f"{path}:{line}: a NUL byte (byte {nul}): not a text file, or a damaged one",
            hint="save the file as UTF-8 text",
        )
    return text


#: The settings that move the cache and the output elsewhere (named by ``DiskFullError``).
CACHE_SETTING = "`cache_dir:` in wheelhouse.yaml (or $WHEELHOUSE_CACHE_DIR)"
OUTPUT_SETTING = "`output:` in wheelhouse.yaml"
#: What a full file system (or a full quota) says.
NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})


@contextlib.contextmanager
def space_checked(where: Path, doing: str, *, setting: str) -> Iterator[None]:
    """Turn a full disk under ``where`` into ``DiskFullError`` (exit 10) saying what was being
    written and which setting moves it. The writers inside clean up their temporary files
    first (they raise through their own ``finally``), so nothing half-written is kept."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in NO_SPACE:
            raise
        raise DiskFullError(
            f"{os.strerror(exc.errno)}: {where}, while {doing} (nothing half-written is kept)",
            hint=f"free space there (`df -h {where}`) or point {setting} at a larger file "
            "system, then run the build again: what was downloaded or built before is kept",
        ) from None
