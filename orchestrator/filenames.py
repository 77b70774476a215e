"""Cheap facts from distribution file names, for hot loops over thousands of files."""

from __future__ import annotations

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    NormalizedName,
    parse_sdist_filename,
    parse_wheel_filename,
)


def version_text(filename: str) -> str:
    """The version part of a wheel or sdist name, split as ``packaging.utils`` splits it.

    The planner and the index cache both group files by this text, so a file lands in
    the cache slice the planner looks in. ``""`` when the name has no version part.
    """
    if filename.endswith(".whl"):
        parts = filename.split("-", 2)
        return parts[1] if len(parts) > 2 else ""
    for suffix in (".tar.gz", ".zip"):
        if filename.endswith(suffix):
            return filename[: -len(suffix)].rpartition("-")[2]
    return ""


def project_of(filename: str) -> NormalizedName | None:
    """The project a wheel or sdist file name belongs to; ``None`` for anything else."""
    try:
        if filename.endswith(".whl"):
            return parse_wheel_filename(filename)[0]
        return parse_sdist_filename(filename)[0]
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None
