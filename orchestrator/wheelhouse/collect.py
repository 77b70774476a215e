"""Collect: turn one target's build into ``<output>/<target-id>/``, which pip installs offline.

What ``output_root`` holds for a target (``<id>`` is the target id)::

    <id>  ->  .<id>-<stamp>          relative symlink: the stable path users hand to pip and Docker
    .<id>-<stamp>/                   the current wheelhouse, never modified once in place
        *.whl                        every wheel the target installs (the current set only)
        simple/index.html            PEP 503 root page: one anchor per project (normalized name)
        simple/<name>/index.html     one anchor per wheel: ../../<file>#sha256=<hex>
        manifest.json                what the wheelhouse holds, see ``MANIFEST_FORMAT``
        provenance.json              how this run came by it, see ``PROVENANCE_FORMAT``
        requirements.txt             ``name==version --hash=sha256:<hex>``, one line per project
    .<id>.lock                       serialises two collects of the same target

Why a symlink: replacing a directory in place takes two renames (old away, new in), and a
process killed between them leaves no ``<id>`` at all. Replacing a symlink is a single
``rename(2)``, atomic on POSIX file systems, so ``<id>`` always resolves to a complete
wheelhouse: the previous one until the rename, the new one after. The new tree is built as
``.<id>.tmp-*``, fsynced, renamed to its versioned name and only then published; the previous
tree is deleted after the switch. Leftovers of a killed run (``.<id>.tmp-*``, ``.<id>.link-*``,
``.<id>.old-*`` and versioned trees nothing points to) are removed by the next run.

``manifest.json`` (format 2) is a documented contract, and byte-identical for the same inputs
(no time, duration or host in it: those are in ``provenance.json``)::

    {"format": 2, "target": "<id>",
     "wheels": [{"name": <normalized>, "version": str, "file": str, "sha256": <hex>,
                 "origin": "pypi" | "built", "sdist_sha256": <hex> | null,
                 "base_image_digest": str | null,
                 "source"?: "find-links" | "url" | "path" | "git",
                 "commit"?: <git commit>, "repository"?: <git URL, credentials masked>,
                 "recipe"?: {"env": [names], "config_settings": {key: value},
                             "patches": [{"file": str, "sha256": <hex>}],
                             "before_build": str | null},
                 "system_libraries"?: [soname], "runtime_packages"?: [package]}],
     "missing": [{"name": str, "version": str, "reason": str}],
     "system_libraries": [soname], "runtime_packages": [package]}

A built wheel's ``system_libraries`` are the sonames it links but does not carry (the
knowledge file kept them out of it: ``auditwheel repair --exclude``), its
``runtime_packages`` the target package manager's packages that ship them. The top-level
lists are the union over the wheels, sorted, without duplicates: what the runtime image
installs (``wheelhouse dockerfile``) and what verify installs before it imports.

``missing`` lists the packages whose build failed: the wheelhouse is incomplete while it is
not empty. New keys may be added within format 2; a change of meaning bumps ``format``.
Format 1 also held ``created`` and each wheel's ``build_seconds`` and ``built_at``.

``provenance.json`` (format 1) says how this run came by each wheel; it differs per run::

    {"format": 1, "target": "<id>", "created": "<ISO 8601 time, UTC>", "host": str,
     "wheels": [{"file": str, "origin": "pypi" | "built", "cached": bool,
                 "build_mode": "native" | "cross" | "emulate" | null,
                 "build_seconds": float | null, "check_seconds": float | null,
                 "fallback_reason": str | null,
                 "built_at": <ISO 8601 time, UTC: when the build wrote the wheel> | null}]}
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import hashlib
import html
import json
import os
import re
import secrets
import shutil
import socket
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from packaging.utils import (
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from orchestrator.errors import BuildFailedError
from orchestrator.model import Artifact, BuildFailure, Origin, RecipeSummary, TargetBuild
from orchestrator.paths import OUTPUT_SETTING, space_checked
from orchestrator.targets import Target

MANIFEST_FORMAT = 2
PROVENANCE_FORMAT = 1

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, kw_only=True)
class WheelEntry:
    """One wheel as the wheelhouse lists it (a ``manifest.json`` ``wheels`` item)."""

    name: NormalizedName
    version: str
    file: str
    sha256: str
    size: int
    origin: Origin
    sdist_sha256: str | None = None
    base_image_digest: str | None = None
    #: A built wheel's recipe (``RecipeSummary.build_json``), ``None`` without one.
    recipe: RecipeSummary | None = None
    #: What only ``provenance.json`` records (it varies from run to run).
    build_seconds: float | None = None
    built_at: str | None = None
    cached: bool = False
    build_mode: str | None = None
    check_seconds: float | None = None
    fallback_reason: str | None = None
    #: Not the index: ``source`` (find-links, url, path, git), and a git source's commit
    #: and repository (masked); in the manifest only when set.
    source: str | None = None
    commit: str | None = None
    repository: str | None = None
    #: What the runtime image provides for it (``Artifact.system_libraries``); in the
    #: manifest only when set.
    system_libraries: tuple[str, ...] = ()
    runtime_packages: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The ``manifest.json`` item: a function of the inputs alone."""
        where = {"source": self.source, "commit": self.commit, "repository": self.repository}
        recipe = None if self.recipe is None else self.recipe.build_json()
        runtime = {
            "system_libraries": list(self.system_libraries),
            "runtime_packages": list(self.runtime_packages),
        }
        return {
            "name": self.name,
            "version": self.version,
            "file": self.file,
            "sha256": self.sha256,
            "origin": self.origin,
            "sdist_sha256": self.sdist_sha256,
            "base_image_digest": self.base_image_digest,
            **{k: v for k, v in where.items() if v is not None},
            **({} if recipe is None else {"recipe": recipe}),
            **(runtime if self.system_libraries else {}),
        }

    def provenance_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "origin": self.origin,
            "cached": self.cached,
            "build_mode": self.build_mode,
            "build_seconds": self.build_seconds,
            "check_seconds": self.check_seconds,
            "fallback_reason": self.fallback_reason,
            "built_at": self.built_at,
        }


@dataclass(frozen=True, kw_only=True)
class WheelhouseResult:
    """What ``collect_wheelhouse`` published."""

    target: Target
    #: ``<output_root>/<id>``: the stable path (a symlink) to hand to pip or Docker.
    path: Path
    #: The versioned directory ``path`` points to now.
    real_path: Path
    wheels: int
    #: Total size of the wheels.
    size_bytes: int
    by_origin: Mapping[Origin, int]
    #: Wheel files the previous wheelhouse had and this one no longer has.
    removed: tuple[str, ...] = ()
    #: Names of packages whose build failed (listed under ``missing`` in the manifest).
    missing: tuple[str, ...] = ()
    #: False when the ``check`` refused it: ``path`` still holds the previous wheelhouse.
    published: bool = True

    @property
    def manifest_path(self) -> Path:
        return self.path / "manifest.json"

    @property
    def provenance_path(self) -> Path:
        return self.path / "provenance.json"

    @property
    def requirements_path(self) -> Path:
        return self.path / "requirements.txt"

    @property
    def index_path(self) -> Path:
        return self.path / "simple"


def collect_wheelhouse(
    build: TargetBuild,
    output_root: Path,
    *,
    clock: Clock = _utc_now,
    check: Callable[[Path], bool] | None = None,
) -> WheelhouseResult:
    """Publish ``output_root/<target-id>/`` holding exactly ``build``'s wheels, atomically.

    With ``check`` (verify), the complete new tree is handed to it before the swap; when it
    says no, the tree is removed and the previous wheelhouse stays (``published`` False).

    Raises ``BuildFailedError`` when an artifact is not the wheel it claims to be (missing
    file, bad file name, or a sha256 that no longer matches: a corrupted cache).
    """
    doing = f"writing the wheelhouse of {build.target.id} (the previous one is as it was)"
    with space_checked(output_root, doing, setting=OUTPUT_SETTING):
        return _collect(build, output_root, clock=clock, check=check)


def _collect(
    build: TargetBuild,
    output_root: Path,
    *,
    clock: Clock,
    check: Callable[[Path], bool] | None,
) -> WheelhouseResult:
    target_id = build.target.id
    output_root.mkdir(parents=True, exist_ok=True)
    with _locked(output_root / f".{target_id}.lock"):
        link = output_root / target_id
        _remove_stale(output_root, target_id, keep=_current_dir(link))
        now = clock()
        tmp = _make_tmp_dir(output_root, target_id)
        try:
            entries = _fill(tmp, build, now)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        previous = _current_dir(link)
        removed = _wheel_files(link) - {e.file for e in entries}
        new_dir = output_root / f".{target_id}-{now.strftime('%Y%m%dT%H%M%SZ')}-{_token()}"
        tmp.rename(new_dir)
        _fsync_dir(output_root)
        if check is not None and not check(new_dir):
            shutil.rmtree(new_dir, ignore_errors=True)
            result = _result(build, link, new_dir, entries, removed)
            return replace(result, real_path=previous or new_dir, published=False)
        try:
            _publish(link, new_dir)
        except BaseException:
            if _current_dir(link) != new_dir:  # not swapped in: the previous one stays
                shutil.rmtree(new_dir, ignore_errors=True)
            raise
        if previous is not None:
            shutil.rmtree(previous, ignore_errors=True)
    return _result(build, link, new_dir, entries, removed)


def _result(
    build: TargetBuild,
    link: Path,
    real: Path,
    entries: Sequence[WheelEntry],
    removed: set[str],
) -> WheelhouseResult:
    by_origin: dict[Origin, int] = {"pypi": 0, "built": 0}
    for entry in entries:
        by_origin[entry.origin] += 1
    return WheelhouseResult(
        target=build.target,
        path=link,
        real_path=real,
        wheels=len(entries),
        size_bytes=sum(e.size for e in entries),
        by_origin=by_origin,
        removed=tuple(sorted(removed)),
        missing=tuple(sorted({f.name for f in build.failures})),
    )


# --- the new tree ----------------------------------------------------------------------------


def _fill(tmp: Path, build: TargetBuild, now: datetime) -> list[WheelEntry]:
    """Write every file of the wheelhouse into ``tmp`` and fsync it."""
    entries = _place_wheels(tmp, build.target, build.artifacts)
    for rel, text in render_simple_index(entries).items():
        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
        _write_durably(tmp / rel, text)
    _write_durably(tmp / "manifest.json", render_manifest(build.target, entries, build.failures))
    provenance = render_provenance(build.target, entries, created=now, host=socket.gethostname())
    _write_durably(tmp / "provenance.json", provenance)
    _write_durably(tmp / "requirements.txt", render_requirements(build.target, entries))
    for directory in sorted({p.parent for p in tmp.rglob("index.html")}, reverse=True):
        _fsync_dir(directory)
    _fsync_dir(tmp)
    return entries


def _place_wheels(dest: Path, target: Target, artifacts: Sequence[Artifact]) -> list[WheelEntry]:
    entries: dict[str, WheelEntry] = {}
    for artifact in artifacts:
        seen = entries.get(artifact.path.name)
        if seen is None:
            entries[artifact.path.name] = _place_wheel(dest, target, artifact)
        elif seen.sha256 != artifact.sha256.lower():
            raise BuildFailedError(
                f"{target.id}: two different wheels named {seen.file}",
                hint="this is a bug in the build step: please report it",
            )
    _check_one_version_each(target, entries.values())
    return sorted(entries.values(), key=lambda e: (e.name, e.file))


def _place_wheel(dest: Path, target: Target, artifact: Artifact) -> WheelEntry:
    _check_wheel_name(target, artifact)
    out = dest / artifact.path.name
    try:
        _link_or_copy(artifact.path, out)
    except FileNotFoundError:
        raise BuildFailedError(
            f"{target.id}: wheel {artifact.path} is gone",
            hint="it was removed from the cache after the build: run `wheelhouse build` again",
        ) from None
    digest = _sha256(out)
    if digest != artifact.sha256.lower():
        raise BuildFailedError(
            f"{target.id}: {artifact.path} has sha256 {digest}, expected {artifact.sha256}",
            hint=f"the cached file is corrupted or was replaced: delete {artifact.path} "
            "and run `wheelhouse build` again",
        )
    built_at = None
    if artifact.origin == "built":
        built_at = _iso(datetime.fromtimestamp(artifact.path.stat().st_mtime, UTC))
    return WheelEntry(
        name=artifact.name,
        version=artifact.version,
        file=out.name,
        sha256=digest,
        size=out.stat().st_size,
        origin=artifact.origin,
        sdist_sha256=artifact.sdist_sha256,
        base_image_digest=artifact.base_image_digest,
        source=artifact.source,
        commit=artifact.commit,
        repository=artifact.repository,
        recipe=artifact.recipe if artifact.origin == "built" else None,
        build_seconds=artifact.build_seconds,
        built_at=built_at,
        cached=artifact.cached,
        build_mode=artifact.build_mode,
        check_seconds=artifact.check_seconds,
        fallback_reason=artifact.fallback_reason,
        system_libraries=artifact.system_libraries,
        runtime_packages=artifact.runtime_packages,
    )


def _check_wheel_name(target: Target, artifact: Artifact) -> None:
    try:
        name, version, _build, _tags = parse_wheel_filename(artifact.path.name)
        same = name == canonicalize_name(artifact.name) and version == Version(artifact.version)
    except (InvalidWheelFilename, InvalidVersion) as exc:
        raise BuildFailedError(
            f"{target.id}: {artifact.path} is not a wheel: {exc}",
            hint="this is a bug in the build step: please report it",
        ) from None
    if not same:
        raise BuildFailedError(
            f"{target.id}: {artifact.path.name} is not {artifact.name} {artifact.version}",
            hint="this is a bug in the build step: please report it",
        )


def _check_one_version_each(target: Target, entries: Iterable[WheelEntry]) -> None:
    versions: dict[str, set[str]] = {}
    for entry in entries:
        versions.setdefault(entry.name, set()).add(entry.version)
    clashes = sorted(name for name, found in versions.items() if len(found) > 1)
    if clashes:
        detail = "; ".join(f"{n}: {', '.join(sorted(versions[n]))}" for n in clashes)
        raise BuildFailedError(
            f"{target.id}: more than one version of a project: {detail}",
            hint="a target installs one version of each project: fix the pins and plan again",
        )


def _link_or_copy(src: Path, dst: Path) -> None:
    """Hard-link from the cache when it shares the file system, else copy (and fsync)."""
    try:
        os.link(src, dst)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            raise FileNotFoundError(exc.errno, exc.strerror, str(src)) from None
        shutil.copyfile(src, dst)
        with dst.open("rb+") as handle:
            os.fsync(handle.fileno())


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


# --- rendering (pure) ------------------------------------------------------------------------

_PAGE = """<!DOCTYPE html>
<html>
  <head>
    <meta name="pypi:repository-version" content="1.0">
    <title>{title}</title>
  </head>
  <body>
    <h1>{title}</h1>
{anchors}
  </body>
</html>
"""


def render_simple_index(entries: Sequence[WheelEntry]) -> dict[str, str]:
    """The PEP 503 pages, keyed by their path relative to the wheelhouse.

    Links are relative (``../../<file>``), so the index works wherever the directory is,
    including as ``--index-url file:///abs/wheelhouse/<id>/simple``.
    """
    by_project: dict[str, list[WheelEntry]] = {}
    for entry in entries:
        by_project.setdefault(entry.name, []).append(entry)
    names = sorted(by_project)
    pages = {
        "simple/index.html": _page(
            "Simple index",
            (f'<a href="{quote(n)}/">{html.escape(n)}</a>' for n in names),
        )
    }
    for name in names:
        files = sorted(by_project[name], key=lambda e: e.file)
        pages[f"simple/{name}/index.html"] = _page(
            f"Links for {name}",
            (
                f'<a href="../../{quote(e.file)}#sha256={e.sha256}">{html.escape(e.file)}</a>'
                for e in files
            ),
        )
    return pages


def _page(title: str, anchors: Iterator[str]) -> str:
    body = "\n".join(f"    {a}<br>" for a in anchors)
    return _PAGE.format(title=html.escape(title), anchors=body)


def render_requirements(target: Target, entries: Sequence[WheelEntry]) -> str:
    """``name==version --hash=sha256:<hex>``: one line per project, sorted by name."""
    hashes: dict[tuple[str, str], set[str]] = {}
    for entry in entries:
        hashes.setdefault((entry.name, entry.version), set()).add(entry.sha256)
    lines = [
        f"# wheelhouse {target.id}: every wheel here, pinned and hashed. Install offline with",
        "# pip install --no-index --find-links <this dir> --require-hashes -r requirements.txt",
    ]
    for (name, version), digests in sorted(hashes.items()):
        flags = " ".join(f"--hash=sha256:{d}" for d in sorted(digests))
        lines.append(f"{name}=={version} {flags}")
    return "\n".join(lines) + "\n"


def render_manifest(
    target: Target, entries: Sequence[WheelEntry], failures: Sequence[BuildFailure]
) -> str:
    data = {
        "format": MANIFEST_FORMAT,
        "target": target.id,
        "wheels": [e.to_json() for e in entries],
        "missing": [
            {"name": f.name, "version": f.version, "reason": f.reason}
            for f in sorted(failures, key=lambda f: (f.name, f.version, f.reason))
        ],
        "system_libraries": sorted({lib for e in entries for lib in e.system_libraries}),
        "runtime_packages": sorted({pkg for e in entries for pkg in e.runtime_packages}),
    }
    return json.dumps(data, indent=2) + "\n"


def render_provenance(
    target: Target, entries: Sequence[WheelEntry], *, created: datetime, host: str
) -> str:
    data = {
        "format": PROVENANCE_FORMAT,
        "target": target.id,
        "created": _iso(created),
        "host": host,
        "wheels": [e.provenance_json() for e in entries],
    }
    return json.dumps(data, indent=2) + "\n"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


# --- publishing --------------------------------------------------------------------------------


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _token() -> str:
    return secrets.token_hex(4)


def _make_tmp_dir(output_root: Path, target_id: str) -> Path:
    tmp = output_root / f".{target_id}.tmp-{_token()}"
    tmp.mkdir(mode=0o755)
    return tmp


def _current_dir(link: Path) -> Path | None:
    """The versioned directory ``link`` points to, if it is our symlink and resolves."""
    if not link.is_symlink():
        return None
    target = link.parent / link.readlink()
    return target if target.is_dir() and target.parent == link.parent else None


def _publish(link: Path, new_dir: Path) -> None:
    """Point ``link`` at ``new_dir`` with one atomic rename."""
    staged = link.parent / f".{link.name}.link-{_token()}"
    staged.symlink_to(new_dir.name)
    if link.exists() and not link.is_symlink():
        _retire_real_dir(link, staged)
    else:
        staged.replace(link)
    _fsync_dir(link.parent)


def _retire_real_dir(link: Path, staged: Path) -> None:
    """``link`` is a plain directory (made by hand or an older wheelhouse): swap it out.

    Linux swaps a directory and a symlink atomically with ``renameat2(RENAME_EXCHANGE)``;
    where that is missing, two renames leave ``link`` absent for a moment.
    """
    aside = link.parent / f".{link.name}.old-{_token()}"
    if _exchange(staged, link):
        staged.rename(aside)
    else:
        link.rename(aside)
        staged.replace(link)
    _fsync_dir(link.parent)
    shutil.rmtree(aside, ignore_errors=True)


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux >= 3.15, glibc >= 2.28); False when unsupported."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    result = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def _remove_stale(output_root: Path, target_id: str, *, keep: Path | None) -> None:
    """Remove what killed runs left behind: temporary trees and unpublished versions."""
    escaped = re.escape(target_id)
    stale = re.compile(
        rf"^\.{escaped}\.(?:tmp|old|link)-[0-9a-f]+$|^\.{escaped}-\d{{8}}T\d{{6}}Z-[0-9a-f]{{8}}$"
    )
    for entry in output_root.iterdir():
        if not stale.match(entry.name) or entry == keep:
            continue
        if entry.is_symlink() or not entry.is_dir():
            entry.unlink(missing_ok=True)
        else:
            shutil.rmtree(entry, ignore_errors=True)


def _wheel_files(directory: Path) -> set[str]:
    return {p.name for p in directory.glob("*.whl")} if directory.is_dir() else set()


def _write_durably(path: Path, text: str) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
