"""The planner: for one target, decide per package download / build / error.

Pure: it is handed the pins of the target and what the index knows of each
project, and returns frozen data. No network, no clock, no host tags.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    NormalizedName,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from orchestrator.filenames import version_text
from orchestrator.model import PackagePlan, Pin, ProjectPage, ReleaseFile, TargetPlan
from orchestrator.plan.modes import ModeChoice, ModeFor
from orchestrator.targets import Target

#: Maps a package name to the system packages its build needs on a target.
SystemPackagesFor = Callable[[NormalizedName, Target], tuple[str, ...]]


def _no_system_packages(_name: NormalizedName, _target: Target) -> tuple[str, ...]:
    return ()


@dataclass(frozen=True, kw_only=True)
class _Wheel:
    file: ReleaseFile
    tags: frozenset[Tag]


def plan_target(
    target: Target,
    pins: Iterable[Pin],
    projects: Mapping[NormalizedName, ProjectPage | None],
    *,
    system_packages: SystemPackagesFor = _no_system_packages,
    build_mode: ModeFor | None = None,
) -> TargetPlan:
    """Plan every pin for ``target``; ``projects`` holds the index pages of pins without files.
    With ``build_mode``, each build says how it will run (else its mode is left ``None``)."""
    packages = [
        _plan_pin(target, pin, projects.get(pin.name), system_packages)
        for pin in sorted(pins, key=lambda p: p.name)
    ]
    if build_mode is not None:
        packages = [
            _with_mode(p, build_mode(p.name, target)) if p.action == "build" else p
            for p in packages
        ]
    return TargetPlan(target=target, packages=tuple(packages))


def _with_mode(package: PackagePlan, choice: ModeChoice) -> PackagePlan:
    return replace(
        package,
        build_mode=choice.mode,
        qemu_fallback=choice.fallback,
        build_mode_reason=_mode_reason(choice),
    )


def _mode_reason(choice: ModeChoice) -> str | None:
    """Who or what asked for the mode; ``None`` for the default (native on the build
    machine's architecture, cross with the QEMU fallback elsewhere)."""
    if choice.impossible is not None:
        return f"{choice.impossible}: the build will fail"
    if choice.mode == "native" or choice.fallback:
        return None
    if choice.mode == "cross":
        return f"{choice.reason}: no QEMU fallback"
    return choice.reason


def _plan_pin(
    target: Target,
    pin: Pin,
    page: ProjectPage | None,
    system_packages: SystemPackagesFor,
) -> PackagePlan:
    version = str(pin.version) if pin.version is not None else ""
    where = f" ({pin.location})" if pin.location else ""
    if pin.unsupported is not None:
        return _error(pin, version, pin.unsupported + where)
    if pin.app is not None:
        return PackagePlan(name=pin.name, version=version, action="app", reason=pin.app + where)
    assert pin.version is not None
    files = pin.files if pin.files is not None else _release_files(page, pin.version)
    if pin.files is None and page is None:
        return _error(pin, version, f"{pin.name} is not on the package index{where}")
    if not files:
        return _error(pin, version, f"{pin.name} has no release {version} on the index{where}")
    usable, why_not = _usable_files(target, pin, files)
    if not usable:
        return _error(pin, version, why_not + where)
    return _decide(target, pin, version, usable, system_packages)


def _decide(
    target: Target,
    pin: Pin,
    version: str,
    files: list[ReleaseFile],
    system_packages: SystemPackagesFor,
) -> PackagePlan:
    wheels = [w for w in (_as_wheel(f) for f in files) if w is not None]
    best = _best_wheel(target, wheels)
    sdist = next((f for f in files if _is_sdist(f)), None)
    if best is not None and not pin.force_build:
        return _plan_file(pin, version, "download", best.file, _yanked_note(best.file).lstrip())
    if sdist is None:
        reason = f"no {target.description} wheel for {target.interpreter} and no sdist"
        if pin.force_build:
            reason = "forced to build from source, but the release has no sdist"
        return _error(pin, version, reason)
    if pin.force_build:
        reason = "forced to build from source (force_build)"
    else:
        reason = _why_build(target, wheels)
    return _plan_file(
        pin,
        version,
        "build",
        sdist,
        reason + _yanked_note(sdist),
        system_packages(pin.name, target),
    )


def _why_build(target: Target, wheels: list[_Wheel]) -> str:
    wanted = f"{target.description} wheel for {target.interpreter}"
    if not wheels:
        return f"no {wanted}; sdist only"
    return f"no {wanted} ({len(wheels)} wheels for other targets); build from sdist"


def _plan_file(  # noqa: PLR0917
    pin: Pin,
    version: str,
    action: str,
    file: ReleaseFile,
    reason: str,
    system_packages: tuple[str, ...] = (),
) -> PackagePlan:
    return PackagePlan(
        name=pin.name,
        version=version,
        action="download" if action == "download" else "build",
        file=file.filename,
        url=file.url,
        sha256=file.sha256,
        reason=reason,
        system_packages=system_packages,
        source=file.source,
        commit=file.commit,
        repository=file.repository,
    )


def _error(pin: Pin, version: str, reason: str) -> PackagePlan:
    return PackagePlan(name=pin.name, version=version, action="error", reason=reason)


def only_releases(page: ProjectPage | None, versions: Iterable[Version]) -> ProjectPage | None:
    """``page`` with only the files of ``versions``.

    A page lists every file of every release (tens of thousands for numpy): narrowing it
    once lets the planning of each target scan a handful of files instead.
    """
    if page is None:
        return None
    return ProjectPage(name=page.name, files=tuple(_files_of(page.files, frozenset(versions))))


def _files_of(files: Iterable[ReleaseFile], versions: frozenset[Version]) -> Iterator[ReleaseFile]:
    """The files whose name spells one of ``versions``; each distinct spelling is parsed once."""
    wanted: dict[str, bool] = {}
    for file in files:
        text = version_text(file.filename)
        if text not in wanted:
            wanted[text] = _parse_version(text) in versions
        if wanted[text]:
            yield file


def _release_files(page: ProjectPage | None, version: Version) -> list[ReleaseFile]:
    if page is None:
        return []
    matches = _files_of(page.files, frozenset({version}))
    return [f for f in matches if _file_version(f) == version]  # a full check of the few


def _parse_version(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def _usable_files(
    target: Target, pin: Pin, files: Iterable[ReleaseFile]
) -> tuple[list[ReleaseFile], str]:
    """Apply hashes, Requires-Python and yanking, in that order; say why nothing is left."""
    candidates = list(files)
    if pin.hashes:
        candidates = [f for f in candidates if f.sha256 in pin.hashes]
        if not candidates:
            return [], (
                f"none of the {len(pin.hashes)} hash(es) given for {pin.name}=={pin.version} "
                "matches a file of that release; regenerate the hashes "
                "(e.g. `uv pip compile --generate-hashes`)"
            )
    full = target.marker_environment["python_full_version"]
    allowed = [f for f in candidates if _python_ok(f.requires_python, full)]
    if not allowed:
        return [], (
            f"every file of {pin.name} {pin.version} requires a Python other than "
            f"{target.python_version} (Requires-Python: {candidates[0].requires_python})"
        )
    # PEP 592: yanked files count only when nothing else of an exact pin is left.
    unyanked = [f for f in allowed if f.yanked is None]
    return (unyanked or allowed), ""


@functools.lru_cache(maxsize=4096)  # every file of a release repeats the same few strings
def _python_ok(requires_python: str | None, version: str) -> bool:
    if not requires_python:
        return True
    try:
        return SpecifierSet(requires_python).contains(version, prereleases=True)
    except InvalidSpecifier:
        return True  # pip ignores a broken Requires-Python too


def _yanked_note(file: ReleaseFile) -> str:
    if file.yanked is None:
        return ""
    return f" [yanked: {file.yanked}]" if file.yanked else " [yanked]"


def _file_version(file: ReleaseFile) -> Version | None:
    if file.is_wheel:
        parsed = _parse_wheel(file.filename)
        return parsed[0] if parsed is not None else None
    try:
        return parse_sdist_filename(file.filename)[1]
    except InvalidSdistFilename:
        return None


@functools.lru_cache(maxsize=65536)  # each wheel is looked at for every target, twice
def _parse_wheel(filename: str) -> tuple[Version, frozenset[Tag]] | None:
    try:
        _name, version, _build, tags = parse_wheel_filename(filename)
    except InvalidWheelFilename:
        return None
    return version, tags


def _as_wheel(file: ReleaseFile) -> _Wheel | None:
    parsed = _parse_wheel(file.filename) if file.is_wheel else None
    return _Wheel(file=file, tags=parsed[1]) if parsed is not None else None


def _is_sdist(file: ReleaseFile) -> bool:
    return file.filename.endswith((".tar.gz", ".zip")) and _file_version(file) is not None


def _best_wheel(target: Target, wheels: Iterable[_Wheel]) -> _Wheel | None:
    """pip's choice: the wheel whose best tag ranks highest for the target."""
    rank = target.tag_rank
    ranked = [
        (min(rank[t] for t in w.tags if t in rank), w.file.filename, w)
        for w in wheels
        if any(t in rank for t in w.tags)
    ]
    return min(ranked, key=lambda r: (r[0], r[1]))[2] if ranked else None
