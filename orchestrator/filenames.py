"""Cheap facts from distribution file names, for hot loops over thousands of files."""

from __future__ import annotations


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
