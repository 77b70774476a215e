"""Requirements with a source of their own, made into release files on the host.

An archive URL is fetched once into the download store (so its sha256 is known and the
build never touches the network); a local wheel or sdist is hashed where it is; a local
project folder becomes an sdist (``uv build --sdist`` on the host), hashed and stored.
Each then enters the plan as a pin with that one file, planned like an index release.

An editable folder (``-e ./app``) is the app itself: the runtime stage installs it, so it
is a plan row of its own (``app``) and is not built, unless ``force_build`` names it (then
it is built from the folder like any other). The outside world (the download store, uv)
comes in as ``SourceHost``.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import Version

from orchestrator.filenames import project_of
from orchestrator.model import Pin, ReleaseFile
from orchestrator.plan.gitspec import GitSpec, from_requirement
from orchestrator.plan.requirements import SourceLine
from orchestrator.targets import Target
from orchestrator.urls import masked, url_path_name

__all__ = ["APP_REASON", "Prepared", "SourceError", "SourceHost", "pins_of", "prepare"]

APP_REASON = (
    "editable: the app itself; the runtime stage installs it (not built; name it in "
    "force_build to build it from {path})"
)


class SourceError(Exception):
    """A source that cannot be made into a file: a sentence for the plan's error row."""


class SourceHost(Protocol):
    """The host's side: fetch a URL into the store, and make an sdist of a folder."""

    def fetch(self, url: str, filename: str, sha256: str | None) -> tuple[Path, str]:
        """The stored file and its sha256 (checked against ``sha256`` when given)."""
        ...

    def sdist(self, folder: Path, *, epoch: int | None = None) -> tuple[Path, str]:
        """An sdist of ``folder`` in the store, and its sha256 (``epoch``: the date its
        files get, so the same tree gives the same sdist)."""
        ...

    def git(self, spec: GitSpec) -> tuple[str, Path, int]:
        """The commit ``spec`` names, a checkout of it with its submodules (never holding
        credentials), and the commit's time."""
        ...


@dataclass(frozen=True, kw_only=True)
class Prepared:
    """What one source line became: a file to plan, the app, or why neither."""

    line: SourceLine
    name: NormalizedName
    version: Version | None = None
    file: ReleaseFile | None = None
    app: str | None = None
    error: str | None = None


def prepare(
    lines: Iterable[SourceLine], host: SourceHost, *, force_build: frozenset[str] = frozenset()
) -> tuple[Prepared, ...]:
    forced = {canonicalize_name(n) for n in force_build}
    return tuple(_prepare(line, host, forced) for line in lines)


def _prepare(line: SourceLine, host: SourceHost, forced: set[NormalizedName]) -> Prepared:
    base = url_path_name(line.target) if line.kind == "url" else Path(line.target).name
    fallback = line.name or project_of(base) or canonicalize_name(base or line.target)
    try:
        match line.kind:
            case "url":
                return _url(line, host)
            case "archive":
                return _archive(line, host)
            case "directory":
                return _folder(line, host, "path")
            case "git":
                return _git(line, host, from_requirement(line.target))
            case "editable":
                name = line.name or _project_name(Path(line.target)) or fallback
                if name in forced:
                    return _folder(line, host, "path")
                return Prepared(line=line, name=name, app=APP_REASON.format(path=line.target))
    except SourceError as exc:
        return Prepared(line=line, name=fallback, error=str(exc))
    raise AssertionError(line.kind)


def _url(line: SourceLine, host: SourceHost) -> Prepared:
    filename = url_path_name(line.target)
    name, version = _name_version(filename, line)
    expected = _one_hash(line)
    path, sha256 = host.fetch(line.target, filename, expected)
    del path
    file = ReleaseFile(filename=filename, url=line.target, sha256=sha256, source="url")
    return Prepared(line=line, name=name, version=version, file=file)


def _archive(line: SourceLine, host: SourceHost) -> Prepared:
    path = Path(line.target)
    name, version = _name_version(path.name, line)
    stored, sha256 = host.fetch(path.as_uri(), path.name, _one_hash(line))
    file = ReleaseFile(filename=path.name, url=stored.as_uri(), sha256=sha256, source="path")
    return Prepared(line=line, name=name, version=version, file=file)


def _folder(line: SourceLine, host: SourceHost, source: str) -> Prepared:
    stored, sha256 = host.sdist(Path(line.target))
    name, version = _name_version(stored.name, line)
    file = ReleaseFile(filename=stored.name, url=stored.as_uri(), sha256=sha256, source=source)
    return Prepared(line=line, name=name, version=version, file=file)


def _git(line: SourceLine, host: SourceHost, spec: GitSpec) -> Prepared:
    commit, checkout, epoch = host.git(spec)
    folder = checkout / spec.subdirectory if spec.subdirectory else checkout
    stored, sha256 = host.sdist(folder, epoch=epoch)
    name, version = _name_version(stored.name, line)
    file = ReleaseFile(
        filename=stored.name,
        url=stored.as_uri(),
        sha256=sha256,
        source="git",
        commit=commit,
        repository=masked(spec.url),
    )
    return Prepared(line=line, name=name, version=version, file=file)


def _one_hash(line: SourceLine) -> str | None:
    if len(line.hashes) > 1:
        raise SourceError(f"{len(line.hashes)} different sha256 hashes for one file")
    return next(iter(line.hashes), None)


def _name_version(filename: str, line: SourceLine) -> tuple[NormalizedName, Version]:
    try:
        if filename.endswith(".whl"):
            name, version, *_ = parse_wheel_filename(filename)
        else:
            name, version = parse_sdist_filename(filename)
    except (InvalidWheelFilename, InvalidSdistFilename):
        raise SourceError(
            f"{masked(filename)}: not a wheel or sdist file name (name-version.tar.gz), so "
            "its version is unknown; point at the release's own archive"
        ) from None
    if line.name is not None and line.name != name:
        raise SourceError(f"the line names {line.name}, but {filename} is {name}")
    return name, version


def _project_name(folder: Path) -> NormalizedName | None:
    """``[project] name`` of a folder's pyproject.toml, when it is written there."""
    try:
        data = tomllib.loads((folder / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    name = data.get("project", {}).get("name")
    return canonicalize_name(name) if isinstance(name, str) else None


def pins_of(
    prepared: Sequence[Prepared], target: Target, *, forced: frozenset[str] = frozenset()
) -> tuple[Pin, ...]:
    """The pins of the prepared lines whose markers hold for ``target``."""
    environment = {**target.marker_environment, "extra": ""}
    names = {canonicalize_name(n) for n in forced}
    return tuple(
        _pin(p, p.name in names)
        for p in prepared
        if p.line.marker is None or p.line.marker.evaluate(environment)
    )


def _pin(prepared: Prepared, force_build: bool) -> Pin:
    return Pin(
        name=prepared.name,
        version=prepared.version,
        hashes=frozenset({prepared.file.sha256})
        if prepared.file and prepared.file.sha256
        else (frozenset()),
        location=prepared.line.location,
        files=(prepared.file,) if prepared.file is not None else None,
        unsupported=prepared.error,
        app=prepared.app,
        force_build=force_build,
    )
