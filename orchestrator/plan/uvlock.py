"""uv.lock (``version = 1``) parsed into frozen data, and the pins one target installs.

The lock is universal: it holds every package any platform needs, each edge with the
marker under which it is followed. ``pins_for_target`` walks the graph from the root
project(s) with the target's marker environment, so only what the target really
installs is planned. The walk follows ``dependencies`` (and the optional
dependencies an edge asks for with ``extra = [...]``); the roots' own extras and
dependency groups (``dev``...) are left out: they are not part of the deployed app.

Parsing is strict about what wheelhouse uses (types, names, versions, markers, and
``sha256:`` hashes: other algorithms are refused, the downloader checks sha256) and
ignores keys it does not use (``metadata``, ``upload-time``...), which uv adds to
version 1 over its revisions.
"""

from __future__ import annotations

import re
import tomllib
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, TypeVar, cast, get_args
from urllib.parse import unquote

from packaging.markers import InvalidMarker, Marker
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import InvalidName, NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from orchestrator.errors import RequirementsError
from orchestrator.model import Location, Pin, ReleaseFile
from orchestrator.paths import read_text
from orchestrator.plan.gitspec import from_lock
from orchestrator.plan.requirements import SourceKind as SourceKind_
from orchestrator.plan.requirements import SourceLine
from orchestrator.targets import Target
from orchestrator.urls import masked, url_path_name, url_problem

__all__ = [
    "LockedDependency",
    "LockedPackage",
    "SourceKind",
    "UvLock",
    "parse_uv_lock",
    "pins_for_target",
]

SourceKind = Literal["registry", "git", "path", "directory", "editable", "url", "virtual"]
_SOURCE_KINDS: tuple[SourceKind, ...] = get_args(SourceKind)
_LOCAL_TREES = ("directory", "editable", "virtual")

_REGENERATE = "the lock file looks damaged or hand-edited; regenerate it with `uv lock`"


@dataclass(frozen=True, kw_only=True)
class LockedDependency:
    """One edge of the graph: ``{ name = "x", extra = ["y"], marker = "..." }``.

    uv writes ``version`` and ``source`` only when the name alone is ambiguous (forks).
    """

    name: NormalizedName
    version: Version | None = None
    source: SourceKind | None = None
    source_detail: str | None = None
    extras: frozenset[NormalizedName] = frozenset()
    marker: Marker | None = None
    location: Location


@dataclass(frozen=True, kw_only=True)
class LockedPackage:
    name: NormalizedName
    #: ``None`` only for local projects with a dynamic version.
    version: Version | None
    source: SourceKind
    #: The registry URL (or find-links directory), git URL, URL or path, as locked.
    source_detail: str
    subdirectory: str | None = None
    sdist: ReleaseFile | None = None
    wheels: tuple[ReleaseFile, ...] = ()
    dependencies: tuple[LockedDependency, ...] = ()
    optional_dependencies: Mapping[NormalizedName, tuple[LockedDependency, ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    #: The forks this version belongs to (empty: every fork).
    resolution_markers: tuple[Marker, ...] = ()
    location: Location

    @property
    def files(self) -> tuple[ReleaseFile, ...]:
        return (*((self.sdist,) if self.sdist else ()), *self.wheels)


@dataclass(frozen=True, kw_only=True)
class UvLock:
    path: Path
    revision: int | None
    requires_python: SpecifierSet
    packages: tuple[LockedPackage, ...]
    #: The projects being locked: source ``editable``/``virtual`` ``"."`` and
    #: the workspace members of ``[manifest]``. They are the app, never pinned.
    roots: tuple[NormalizedName, ...]
    #: ``[manifest].requirements``: the roots of a lock without a project (a script).
    root_requirements: tuple[LockedDependency, ...] = ()
    #: ``supported-markers``: the environments the lock was restricted to, if any.
    supported_markers: tuple[Marker, ...] = ()


# --- reading TOML values with their field paths -------------------------------------

_T = TypeVar("_T")


@dataclass(frozen=True, kw_only=True)
class _Table:
    """A TOML table and where it sits, so every error names the field path."""

    data: Mapping[str, Any]
    file: Path
    path: str

    def at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def error(self, key: str, problem: str, hint: str = _REGENERATE) -> RequirementsError:
        where = Location(file=self.file, field=self.at(key) if key else self.path)
        return RequirementsError(f"{where}: {problem}", hint=hint)

    def get(self, key: str, kind: type[_T]) -> _T | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.error(key, f"expected {_TYPE_NAMES[kind]}, got {value!r}")
        return value

    def require(self, key: str, kind: type[_T]) -> _T:
        value = self.get(key, kind)
        if value is None:
            raise self.error(key, "missing")
        return value

    def table(self, key: str) -> _Table | None:
        value = self.get(key, dict)
        if value is None:
            return None
        return _Table(data=value, file=self.file, path=self.at(key))

    def tables(self, key: str) -> list[_Table]:
        items = self.get(key, list) or []
        tables: list[_Table] = []
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                raise self.error(f"{key}[{index}]", f"expected a table, got {item!r}")
            tables.append(_Table(data=item, file=self.file, path=f"{self.at(key)}[{index}]"))
        return tables

    def strings(self, key: str) -> list[str]:
        items = self.get(key, list) or []
        for index, item in enumerate(items):
            if not isinstance(item, str):
                raise self.error(f"{key}[{index}]", f"expected a string, got {item!r}")
        return cast(list[str], items)

    def name(self, key: str = "name") -> NormalizedName:
        value = self.require(key, str)
        try:
            return canonicalize_name(value, validate=True)
        except InvalidName:
            raise self.error(key, f"{value!r} is not a valid project name") from None

    def version(self, key: str = "version") -> Version | None:
        value = self.get(key, str)
        try:
            return None if value is None else Version(value)
        except InvalidVersion:
            raise self.error(key, f"{value!r} is not a PEP 440 version") from None

    def marker(self, key: str, text: str) -> Marker:
        try:
            return Marker(text)
        except InvalidMarker as exc:
            raise self.error(key, f"invalid marker {text!r}: {exc}") from None


_TYPE_NAMES: dict[type[Any], str] = {
    str: "a string",
    int: "an integer",
    dict: "a table",
    list: "an array",
}


# --- parsing --------------------------------------------------------------------


def parse_uv_lock(path: Path) -> UvLock:
    """Read and check a uv.lock; every error names the file and the TOML path of the field."""
    top = _Table(data=_load(path), file=path, path="")
    version = top.get("version", int)
    if version is None:
        raise top.error("version", "missing; is this a uv.lock file?")
    if version != 1:
        raise RequirementsError(
            f"{path}: uv.lock version {version} is not supported; wheelhouse reads version 1",
            hint="lock with a uv release that writes `version = 1`, or upgrade wheelhouse",
        )
    requires_python = _specifiers(top, "requires-python")
    packages = tuple(_package(table, path.parent) for table in top.tables("package"))
    _check_references(top, packages)
    manifest = top.table("manifest")
    lock = UvLock(
        path=path,
        revision=top.get("revision", int),
        requires_python=requires_python,
        packages=packages,
        roots=_roots(top, manifest, packages),
        root_requirements=_manifest_requirements(manifest),
        supported_markers=tuple(
            top.marker(f"supported-markers[{i}]", text)
            for i, text in enumerate(top.strings("supported-markers"))
        ),
    )
    if not lock.roots and not lock.root_requirements:
        raise RequirementsError(
            f'{path}: no root project: no package has source `editable = "."` or '
            '`virtual = "."`, and [manifest] lists no members or requirements',
            hint="run `uv lock` in the project's directory and use the uv.lock it writes there",
        )
    return lock


def _load(path: Path) -> dict[str, Any]:
    text = read_text(
        path,
        what="uv.lock",
        error=RequirementsError,
        hint="run `uv lock` in the project to create it, or fix the path to it",
    )
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RequirementsError(f"{path}: not valid TOML: {exc}", hint=_REGENERATE) from None


def _specifiers(table: _Table, key: str) -> SpecifierSet:
    text = table.get(key, str) or ""
    try:
        return SpecifierSet(text)
    except InvalidSpecifier:
        raise table.error(key, f"{text!r} is not a version specifier") from None


def _package(table: _Table, base: Path) -> LockedPackage:
    found = _source(table, "source")
    if found is None:
        raise table.error("source", "missing")
    source, detail, subdirectory = found
    version = table.version()
    if version is None and source not in _LOCAL_TREES:
        raise table.error("version", f"missing (required for a {source} source)")
    package = LockedPackage(
        name=table.name(),
        version=version,
        source=source,
        source_detail=detail,
        subdirectory=subdirectory,
        sdist=_sdist(table, source, detail, base),
        wheels=tuple(_wheel(t, source, detail, base) for t in table.tables("wheels")),
        dependencies=tuple(_dependency(t) for t in table.tables("dependencies")),
        optional_dependencies=_optional_dependencies(table),
        resolution_markers=tuple(
            table.marker(f"resolution-markers[{i}]", text)
            for i, text in enumerate(table.strings("resolution-markers"))
        ),
        location=Location(file=table.file, field=table.path),
    )
    return package


def _source(table: _Table, key: str) -> tuple[SourceKind, str, str | None] | None:
    """``source = { registry = "..." }`` and its kin: (kind, detail, subdirectory)."""
    source = table.table(key)
    if source is None:
        return None
    kinds = [kind for kind in _SOURCE_KINDS if kind in source.data]
    if len(kinds) != 1:
        expected = ", ".join(_SOURCE_KINDS)
        raise table.error(key, f"expected exactly one of {expected}; got {dict(source.data)!r}")
    kind = kinds[0]
    detail = source.require(kind, str)
    if kind in ("registry", "url", "git") and "://" in detail and (problem := url_problem(detail)):
        raise source.error(kind, problem)
    return kind, detail, source.get("subdirectory", str)


def _sha256(table: _Table) -> str | None:
    value = table.get("hash", str)
    if value is None:
        return None
    match = re.fullmatch(r"sha256:([0-9a-fA-F]{64})", value)
    if not match:
        raise table.error(
            "hash",
            f"expected 'sha256:<hex>', got {value!r}",
            hint="wheelhouse checks files by sha256: lock against an index that serves "
            "sha256 digests (PyPI does), or regenerate the lock with `uv lock`",
        )
    return match[1].lower()


def _file(table: _Table, default_url: str | None, base: Path) -> ReleaseFile:
    """A file entry: ``url`` (remote), ``path`` (relative to ``base``) or only a hash."""
    url = table.get("url", str)
    path = table.get("path", str)
    if url is None and path is not None:
        url = (base / path).resolve().as_uri()
    url = url or default_url
    if url is None:
        raise table.error("url", "missing (a file needs `url` or `path`)")
    if problem := url_problem(url):
        raise table.error("url", problem)
    filename = table.get("filename", str) or unquote(url_path_name(url))
    return ReleaseFile(
        filename=filename, url=url, sha256=_sha256(table), size=table.get("size", int)
    )


def _sdist(table: _Table, source: SourceKind, detail: str, base: Path) -> ReleaseFile | None:
    sdist = table.table("sdist")
    if sdist is None:
        return None
    return _file(sdist, _source_url(source, detail, base), _files_base(source, detail, base))


def _wheel(table: _Table, source: SourceKind, detail: str, base: Path) -> ReleaseFile:
    return _file(table, _source_url(source, detail, base), _files_base(source, detail, base))


def _source_url(source: SourceKind, detail: str, base: Path) -> str | None:
    """Where a hash-only file entry lives: the archive a ``url``/``path`` source names."""
    if source == "url":
        return detail
    if source == "path":
        return (base / detail).resolve().as_uri()
    return None


def _files_base(source: SourceKind, detail: str, base: Path) -> Path:
    """The directory ``path = ...`` file entries are relative to (a find-links registry)."""
    if source == "registry" and not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", detail):
        return base / detail
    return base


def _dependency(table: _Table, extras_key: str = "extra") -> LockedDependency:
    source, detail, _ = _source(table, "source") or (None, None, None)
    marker = table.get("marker", str)
    return LockedDependency(
        name=table.name(),
        version=table.version(),
        source=source,
        source_detail=detail,
        extras=frozenset(_extra_names(table, extras_key)),
        marker=None if marker is None else table.marker("marker", marker),
        location=Location(file=table.file, field=table.path),
    )


def _extra_names(table: _Table, key: str) -> list[NormalizedName]:
    names = []
    for index, extra in enumerate(table.strings(key)):
        try:
            names.append(canonicalize_name(extra, validate=True))
        except InvalidName:
            raise table.error(f"{key}[{index}]", f"{extra!r} is not a valid extra name") from None
    return names


def _optional_dependencies(table: _Table) -> Mapping[NormalizedName, tuple[LockedDependency, ...]]:
    optional = table.table("optional-dependencies")
    if optional is None:
        return MappingProxyType({})
    return MappingProxyType(
        {
            canonicalize_name(extra): tuple(_dependency(t) for t in optional.tables(extra))
            for extra in optional.data
        }
    )


def _manifest_requirements(manifest: _Table | None) -> tuple[LockedDependency, ...]:
    if manifest is None:
        return ()
    return tuple(_dependency(t, "extras") for t in manifest.tables("requirements"))


def _roots(
    top: _Table, manifest: _Table | None, packages: tuple[LockedPackage, ...]
) -> tuple[NormalizedName, ...]:
    roots = [
        package.name
        for package in packages
        if package.source in ("editable", "virtual") and package.source_detail == "."
    ]
    names = {package.name for package in packages}
    members = manifest.strings("members") if manifest else []
    for index, member in enumerate(members):
        name = canonicalize_name(member)
        if name not in names:
            raise top.error(
                f"manifest.members[{index}]", f"workspace member {member!r} is not a locked package"
            )
        if name not in roots:
            roots.append(name)
    return tuple(roots)


def _check_references(top: _Table, packages: tuple[LockedPackage, ...]) -> None:
    for package in packages:
        edges = [
            *package.dependencies,
            *(d for ds in package.optional_dependencies.values() for d in ds),
        ]
        for edge in edges:
            if not _candidates(packages, edge):
                raise RequirementsError(
                    f"{edge.location}: {_describe_edge(edge)} is not a locked package",
                    hint=_REGENERATE,
                )


def _candidates(packages: tuple[LockedPackage, ...], edge: LockedDependency) -> list[int]:
    return [
        index
        for index, package in enumerate(packages)
        if package.name == edge.name
        and (edge.version is None or package.version == edge.version)
        and (
            edge.source is None
            or (package.source, package.source_detail) == (edge.source, edge.source_detail)
        )
    ]


def _describe_edge(edge: LockedDependency) -> str:
    return f"`{edge.name}`" + (f" {edge.version}" if edge.version else "")


# --- walking the graph for a target --------------------------------------------------


def pins_for_target(
    lock: UvLock, target: Target, *, force_build: frozenset[str] = frozenset()
) -> tuple[Pin, ...]:
    """Every package the target installs, as pins, in lock order (roots left out)."""
    _check_target(lock, target)
    forced = {canonicalize_name(name) for name in force_build}
    reached = _walk(lock, target)
    roots = set(lock.roots)
    return tuple(
        _pin(package, forced)
        for index, package in enumerate(lock.packages)
        if index in reached and package.name not in roots and package.source != "virtual"
    )


def source_lines(lock: UvLock) -> tuple[SourceLine, ...]:
    """The locked packages whose source the host prepares (``plan.sources``): git (at the
    locked commit), local folders, local archives, and editable ones (not the root: the
    app's own members, an ``app`` row). Registry and URL sources keep their files."""
    roots = set(lock.roots)
    lines = []
    for package in lock.packages:
        line = _source_line(package, lock.path.parent)
        if line is not None and package.name not in roots:
            lines.append(line)
    return tuple(lines)


def _source_line(package: LockedPackage, base: Path) -> SourceLine | None:
    detail = package.source_detail
    kind: SourceKind_ | None = None
    match package.source:
        case "git":
            spec = from_lock(detail)
            rev = spec.locked_commit or spec.rev
            kind, target = "git", f"git+{spec.url}" + (f"@{rev}" if rev else "")
            if spec.subdirectory:
                target += f"#subdirectory={spec.subdirectory}"
        case "directory" | "editable":
            kind, target = package.source, str((base / detail).resolve())
        case "path" if not package.files:
            kind, target = "archive", str((base / detail).resolve())
        case _:
            return None
    return SourceLine(
        kind=kind,
        location=package.location,
        text=f"source = {{ {package.source} = {masked(detail)!r} }}",
        target=target,
        name=package.name,
    )


def _check_target(lock: UvLock, target: Target) -> None:
    major, minor = target.python
    # requires-python may name a patch release; the target runs some 3.Y.z.
    if not any(lock.requires_python.contains(f"{major}.{minor}.{patch}") for patch in range(100)):
        raise RequirementsError(
            f"{lock.path}: requires-python {lock.requires_python} excludes target {target} "
            f"(Python {target.python_version})",
            hint="drop the target, or widen `requires-python` in pyproject.toml "
            "and re-run `uv lock`",
        )
    environment = _environment(target, None)
    if lock.supported_markers and not any(m.evaluate(environment) for m in lock.supported_markers):
        markers = " or ".join(f"`{m}`" for m in lock.supported_markers)
        raise RequirementsError(
            f"{lock.path}: supported-markers ({markers}) exclude target {target}",
            hint="add the target's platform to `tool.uv.environments` and re-run `uv lock`",
        )


def _environment(target: Target, extra: NormalizedName | None) -> dict[str, str]:
    return {**target.marker_environment, "extra": extra or ""}


def _walk(lock: UvLock, target: Target) -> set[int]:
    """Indices of the packages reached from the roots through edges true for the target."""
    index_of = {
        package.name: i for i, package in enumerate(lock.packages) if package.name in lock.roots
    }
    queue: deque[tuple[int, NormalizedName | None]] = deque(
        (index_of[name], None) for name in lock.roots
    )
    root_environment = _environment(target, None)
    for requirement in lock.root_requirements:
        if requirement.marker is None or requirement.marker.evaluate(root_environment):
            queue.extend(_follow(lock, requirement, target))
    seen: set[tuple[int, NormalizedName | None]] = set()
    while queue:
        node = queue.popleft()
        if node in seen:
            continue
        seen.add(node)
        index, extra = node
        package = lock.packages[index]
        edges = (
            package.dependencies if extra is None else package.optional_dependencies.get(extra, ())
        )
        environment = _environment(target, extra)
        for edge in edges:
            if edge.marker is None or edge.marker.evaluate(environment):
                queue.extend(_follow(lock, edge, target))
    return {index for index, _ in seen}


def _follow(
    lock: UvLock, edge: LockedDependency, target: Target
) -> list[tuple[int, NormalizedName | None]]:
    """The package an edge leads to for the target, and each extra the edge activates."""
    index = _resolve(lock, edge, target)
    return [(index, None), *((index, extra) for extra in sorted(edge.extras))]


def _resolve(lock: UvLock, edge: LockedDependency, target: Target) -> int:
    candidates = _candidates(lock.packages, edge)
    if len(candidates) > 1:
        environment = _environment(target, None)
        candidates = [
            index
            for index in candidates
            if not lock.packages[index].resolution_markers
            or any(m.evaluate(environment) for m in lock.packages[index].resolution_markers)
        ]
    if len(candidates) == 1:
        return candidates[0]
    found = ", ".join(str(lock.packages[i].version) for i in _candidates(lock.packages, edge))
    raise RequirementsError(
        f"{edge.location}: {_describe_edge(edge)} matches "
        f"{len(candidates) or 'no'} locked packages for target {target} ({found or 'none'})",
        hint=_REGENERATE,
    )


def _pin(package: LockedPackage, forced: set[NormalizedName]) -> Pin:
    files = package.files
    return Pin(
        name=package.name,
        version=package.version,
        hashes=frozenset(f.sha256 for f in files if f.sha256),
        location=package.location,
        files=files,
        unsupported=_unsupported(package),
        force_build=package.name in forced,
    )


def _unsupported(package: LockedPackage) -> str | None:
    release = f"{package.name} {package.version}" if package.version else package.name
    match package.source:
        case "registry":
            return None
        case "url":
            if package.files:
                return None
            return (
                f"URL source {package.source_detail}: the lock lists no archive for it; "
                f"publish {release} to an index and re-run `uv lock`"
            )
        case "git":
            return (
                f"git source {package.source_detail}: wheelhouse plans index releases only; "
                f"publish {release} to an index (a private one works) and re-run `uv lock`"
            )
        case "path":
            if package.files:  # the archive itself, with the lock's hash
                return None
            return (
                f"local archive {package.source_detail}: wheelhouse plans index releases only; "
                f"publish {release} to an index and re-run `uv lock`"
            )
        case _:
            return (
                f"local {package.source} source {package.source_detail}: wheelhouse plans "
                f"index releases only; publish {release} to an index and re-run `uv lock`"
            )
