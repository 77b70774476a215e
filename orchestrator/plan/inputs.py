"""``wheelhouse plan`` end to end: read inputs, resolve where needed, ask the index, plan.

This is the impure shell around the pure ``planner``: every outside thing (the
index, uv, the environment) is handed in, so tests can replace each one.
"""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from packaging.utils import NormalizedName
from packaging.version import Version

from orchestrator.config import Config, TargetConfig
from orchestrator.errors import BadInputError, RequirementsError
from orchestrator.model import PackagePlan, Pin, Plan, ProjectPage, ReleaseFile, TargetPlan
from orchestrator.plan import requirements as reqs
from orchestrator.plan import uvlock
from orchestrator.plan.completion import ClosureCheck, ResolveMissing, complete_target
from orchestrator.plan.findlinks import FetchPage, find_links_files, merge_pages
from orchestrator.plan.modes import ModeFor
from orchestrator.plan.planner import SystemPackagesFor, only_releases, plan_target
from orchestrator.plan.sources import Prepared, pins_of
from orchestrator.targets import Target


class FetchProjects(Protocol):
    """The index: each project's page, with only the files of ``versions`` when given."""

    def __call__(
        self,
        names: Iterable[str],
        /,
        *,
        versions: Mapping[NormalizedName, Collection[Version]] | None = None,
    ) -> Mapping[NormalizedName, ProjectPage | None]: ...


Compile = Callable[[Path, Target], str]
#: Source lines (URLs, paths, editables) made into files on the host (``sources.prepare``).
PrepareSources = Callable[[Sequence[reqs.SourceLine]], tuple[Prepared, ...]]


class CompileWith(Protocol):
    """uv: ``requirements`` pinned for a target, under ``constraints``."""

    def __call__(
        self, requirements: Path, target: Target, *, constraints: Path | None, hashes: bool
    ) -> str: ...


@dataclass(frozen=True, kw_only=True)
class PlanInputs:
    """The pins of every target, and where the index settings came from."""

    pins: Mapping[Target, tuple[Pin, ...]]
    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    #: ``--find-links`` files by project, offered beside the index's (``findlinks``).
    find_links: Mapping[NormalizedName, tuple[ReleaseFile, ...]] = field(default_factory=dict)
    #: Targets that cannot be planned (a lock's requires-python excludes them, uv cannot
    #: resolve for them): the error, planned as that target's alone (``TargetPlan.error``).
    errors: Mapping[Target, str] = field(default_factory=dict)


def is_uv_lock(path: Path) -> bool:
    return path.name == "uv.lock" or path.suffix == ".lock"


def requirements_path(config: Config, override: Path | None) -> Path:
    path = override or config.requirements
    if path is None:
        raise RequirementsError(
            "no requirements given",
            hint="set `requirements:` in wheelhouse.yaml or pass --requirements requirements.txt",
        )
    if not path.exists():
        raise RequirementsError(
            f"requirements file not found: {path}",
            hint="check the path in wheelhouse.yaml `requirements:` or pass --requirements",
        )
    return path


def read_requirements(path: Path) -> reqs.RequirementsFile:
    """Parse once; callers use the result for both the index settings and the pins."""
    return reqs.parse_requirements(path)


def pins_from_lock(
    path: Path,
    targets: Sequence[TargetConfig],
    force_build: frozenset[str],
    prepare_sources: PrepareSources | None = None,
) -> PlanInputs:
    """The lock's pins per target; git, folder and editable sources are prepared on the
    host once (``sources``) and replace the lock's pins of the same name where reached."""
    lock = uvlock.parse_uv_lock(path)
    lines = uvlock.source_lines(lock)
    prepared = prepare_sources(lines) if lines and prepare_sources is not None else ()
    pins: dict[Target, tuple[Pin, ...]] = {}

    def plan_one(tc: TargetConfig) -> None:
        locked = uvlock.pins_for_target(lock, tc.target, force_build=force_build)
        own = {p.name: p for p in pins_of(prepared, tc.target, forced=force_build)}
        pins[tc.target] = tuple(_from_lock(p, own.get(p.name)) for p in locked)

    errors = _per_target(targets, plan_one)
    return PlanInputs(pins=pins, errors=errors)


def _from_lock(locked: Pin, prepared: Pin | None) -> Pin:
    if prepared is None:
        return locked
    return replace(prepared, location=locked.location, extras=locked.extras)


def _per_target(
    targets: Sequence[TargetConfig], plan_one: Callable[[TargetConfig], None]
) -> dict[Target, str]:
    """Run ``plan_one`` for each target; a target's bad-input error (excluded Python, uv
    cannot resolve for it) becomes that target's, so the others are planned and built.
    When every target fails the first error is raised: nothing would be built anyway."""
    errors: dict[Target, str] = {}
    first: BadInputError | None = None
    for tc in targets:
        try:
            plan_one(tc)
        except BadInputError as exc:
            errors[tc.target] = str(exc)
            first = first or exc
    if first is not None and len(errors) == len(targets):
        raise first
    return errors


def pins_from_requirements(
    parsed: reqs.RequirementsFile,
    targets: Sequence[TargetConfig],
    *,
    force_build: frozenset[str],
    resolve: str,
    compile_for: Compile,
    fetch_page: FetchPage | None = None,
    prepare_sources: PrepareSources | None = None,
) -> PlanInputs:
    """Pinned input is the closure already; anything looser is resolved per target by uv.
    ``--find-links`` files are listed (and hashed) once, for every target."""
    pinned = reqs.is_fully_pinned(parsed)
    if resolve == "never" and not pinned:
        raise _loose_error(parsed)
    must_resolve = resolve == "always" or (resolve == "auto" and not pinned)
    pins: dict[Target, tuple[Pin, ...]] = {}
    warnings: list[str] = []
    prepared = _prepared(parsed, prepare_sources)

    def plan_one(tc: TargetConfig) -> None:
        source = replace(parsed, sources=())
        if must_resolve:
            source = _resolved(parsed.files[0], tc.target, compile_for)
        target_pins, target_warnings = reqs.pins_for_target(
            source, tc.target, force_build=force_build
        )
        own = pins_of(prepared, tc.target, forced=force_build)
        names = {p.name for p in own}
        pins[tc.target] = tuple(p for p in target_pins if p.name not in names) + own
        warnings.extend(f"{tc.target.id}: {w}" for w in target_warnings)

    errors = _per_target(targets, plan_one)
    return PlanInputs(
        errors=errors,
        pins=pins,
        index_url=parsed.index_url,
        extra_index_urls=parsed.extra_index_urls,
        warnings=tuple(dict.fromkeys(warnings)),
        find_links=find_links_files(parsed.find_links, fetch_page),
    )


def _prepared(
    parsed: reqs.RequirementsFile, prepare_sources: PrepareSources | None
) -> tuple[Prepared, ...]:
    if not parsed.sources:
        return ()
    if prepare_sources is None:
        raise ValueError("requirements with sources of their own need prepare_sources")
    return prepare_sources(parsed.sources)


def _loose_error(parsed: reqs.RequirementsFile) -> RequirementsError:
    """`resolve: never` with a loose requirement: name the first one (not a crash in pins)."""
    line = next(
        line
        for line in parsed.requirements
        if not reqs.is_fully_pinned(replace(parsed, requirements=(line,)))
    )
    return RequirementsError(
        f"{line.location}: {line.text}\n  not pinned with ==, and wheelhouse.yaml says "
        "`resolve: never`",
        hint="pin every requirement (e.g. `uv pip compile requirements.in -o "
        "requirements.txt`) or set `resolve: auto`",
    )


def _resolved(path: Path, target: Target, compile_for: Compile) -> reqs.RequirementsFile:
    text = compile_for(path, target)
    with tempfile.TemporaryDirectory(prefix="wheelhouse-resolve-") as tmp:
        pinned = Path(tmp) / f"{target.id}.txt"
        pinned.write_text(text, encoding="utf-8")
        # uv writes the user's own source lines back (`./libs/foo`, `-e .`): those are
        # prepared from the user's file, not from this copy.
        resolved = reqs.parse_requirements(pinned, base=path.resolve().parent)
        return replace(resolved, sources=())


def missing_resolver(compile_with: CompileWith, *, hashes: bool) -> ResolveMissing:
    """``resolve: auto`` for what a pinned file misses: uv resolves just the missing
    requirements for the target, constrained by every pin, hash-pinned when the input is."""

    def resolve(target: Target, wanted: Sequence[str], pins: Sequence[Pin]) -> tuple[Pin, ...]:
        with tempfile.TemporaryDirectory(prefix="wheelhouse-complete-") as tmp:
            missing, constraints = Path(tmp) / "missing.in", Path(tmp) / "pins.txt"
            missing.write_text("".join(f"{r}\n" for r in wanted), encoding="utf-8")
            constraints.write_text(
                "".join(f"{p.name}=={p.version}\n" for p in pins if p.version is not None),
                encoding="utf-8",
            )
            text = compile_with(missing, target, constraints=constraints, hashes=hashes)
            resolved = Path(tmp) / f"{target.id}.txt"
            resolved.write_text(text, encoding="utf-8")
            pins = reqs.pins_for_target(reqs.parse_requirements(resolved), target)[0]
            return tuple(replace(p, location=None) for p in pins)  # not a file of the user's

    return resolve


def plan_all(
    inputs: PlanInputs,
    *,
    fetch_projects: FetchProjects,
    system_packages: SystemPackagesFor,
    build_mode: ModeFor | None = None,
    closure: ClosureCheck | None = None,
) -> Plan:
    """Fetch each project page once for every target (only the pinned releases of it),
    then plan each target (``build_mode``: how each build runs, see ``plan_target``).
    With ``closure``, each target's plan is checked (and completed) against its pins'
    metadata (see ``completion``)."""
    pages = _Pages(fetch_projects, inputs.find_links)
    pages.fetch([p for pins in inputs.pins.values() for p in pins])

    def plan_pins(target: Target, pins: Sequence[Pin]) -> TargetPlan:
        pages.fetch(pins)
        return plan_target(
            target, pins, pages.pages, system_packages=system_packages, build_mode=build_mode
        )

    targets: list[TargetPlan] = []
    warnings = list(inputs.warnings)
    for target, error in inputs.errors.items():
        targets.append(TargetPlan(target=target, packages=(), error=error))
    for target, pins in inputs.pins.items():
        if closure is None:
            targets.append(plan_pins(target, pins))
            continue
        done = complete_target(
            target,
            pins,
            plan_pins=plan_pins,
            find_file=functools.partial(pages.file_of, pins),
            check=closure,
        )
        targets.append(done.plan)
        warnings.extend(f"{target.id}: added {note}" for note in done.added.values())
    return Plan(targets=tuple(targets), warnings=tuple(dict.fromkeys(warnings)))


class _Pages:
    """The index pages of the pins planned so far, narrowed to their releases; pins added
    by the completion are fetched when they come."""

    def __init__(
        self,
        fetch_projects: FetchProjects,
        find_links: Mapping[NormalizedName, Sequence[ReleaseFile]],
    ) -> None:
        self._fetch = fetch_projects
        self._find_links = find_links
        self.pages: dict[NormalizedName, ProjectPage | None] = {}
        self._have: set[tuple[NormalizedName, Version]] = set()

    def fetch(self, pins: Iterable[Pin]) -> None:
        versions: dict[NormalizedName, set[Version]] = {}
        for pin in pins:
            if (
                _needs_page(pin)
                and pin.version is not None
                and (pin.name, pin.version) not in self._have
            ):
                versions.setdefault(pin.name, set()).add(pin.version)
        if not versions:
            return
        for name in versions:  # refetched whole: a page narrowed to other releases lacks them
            versions[name] |= {v for n, v in self._have if n == name}
        fetched = merge_pages(self._fetch(sorted(versions), versions=versions), self._find_links)
        for name, page in fetched.items():
            self.pages[name] = only_releases(page, versions.get(name, ()))
            self._have |= {(name, v) for v in versions.get(name, ())}

    def file_of(self, pins: Sequence[Pin], package: PackagePlan) -> ReleaseFile | None:
        """The release file a planned package names, as the lock or the index lists it."""
        if package.url is None or package.file is None:
            return None
        listed = [f for p in pins if p.name == package.name and p.files for f in p.files]
        page = self.pages.get(package.name)
        listed += page.files if page is not None else ()
        found = next((f for f in listed if f.url == package.url), None)
        return found or ReleaseFile(filename=package.file, url=package.url, sha256=package.sha256)


def _needs_page(pin: Pin) -> bool:
    return pin.files is None and pin.unsupported is None and pin.app is None
