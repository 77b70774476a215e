"""``wheelhouse plan`` end to end: read inputs, resolve where needed, ask the index, plan.

This is the impure shell around the pure ``planner``: every outside thing (the
index, uv, the environment) is handed in, so tests can replace each one.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from packaging.utils import NormalizedName
from packaging.version import Version

from orchestrator.config import Config, TargetConfig
from orchestrator.errors import RequirementsError
from orchestrator.model import Pin, Plan, ProjectPage, TargetPlan
from orchestrator.plan import requirements as reqs
from orchestrator.plan import uvlock
from orchestrator.plan.modes import ModeFor
from orchestrator.plan.planner import SystemPackagesFor, only_releases, plan_target
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


@dataclass(frozen=True, kw_only=True)
class PlanInputs:
    """The pins of every target, and where the index settings came from."""

    pins: Mapping[Target, tuple[Pin, ...]]
    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


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
    path: Path, targets: Sequence[TargetConfig], force_build: frozenset[str]
) -> PlanInputs:
    lock = uvlock.parse_uv_lock(path)
    pins = {
        tc.target: uvlock.pins_for_target(lock, tc.target, force_build=force_build)
        for tc in targets
    }
    return PlanInputs(pins=pins)


def pins_from_requirements(
    parsed: reqs.RequirementsFile,
    targets: Sequence[TargetConfig],
    *,
    force_build: frozenset[str],
    resolve: str,
    compile_for: Compile,
) -> PlanInputs:
    """Pinned input is the closure already; anything looser is resolved per target by uv."""
    pinned = reqs.is_fully_pinned(parsed)
    if resolve == "never" and not pinned:
        raise _loose_error(parsed)
    must_resolve = resolve == "always" or (resolve == "auto" and not pinned)
    pins: dict[Target, tuple[Pin, ...]] = {}
    warnings: list[str] = []
    for tc in targets:
        source = parsed
        if must_resolve:
            source = _resolved(parsed.files[0], tc.target, compile_for)
        target_pins, target_warnings = reqs.pins_for_target(
            source, tc.target, force_build=force_build
        )
        pins[tc.target] = target_pins
        warnings.extend(f"{tc.target.id}: {w}" for w in target_warnings)
    return PlanInputs(
        pins=pins,
        index_url=parsed.index_url,
        extra_index_urls=parsed.extra_index_urls,
        warnings=tuple(dict.fromkeys(warnings)),
    )


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
        return reqs.parse_requirements(pinned)


def plan_all(
    inputs: PlanInputs,
    *,
    fetch_projects: FetchProjects,
    system_packages: SystemPackagesFor,
    build_mode: ModeFor | None = None,
) -> Plan:
    """Fetch each project page once for every target (only the pinned releases of it),
    then plan each target (``build_mode``: how each build runs, see ``plan_target``)."""
    names = sorted({p.name for pins in inputs.pins.values() for p in pins if _needs_page(p)})
    versions: dict[NormalizedName, set[Version]] = {}
    for pin in (p for pins in inputs.pins.values() for p in pins if _needs_page(p)):
        if pin.version is not None:
            versions.setdefault(pin.name, set()).add(pin.version)
    fetched = fetch_projects(names, versions=versions) if names else {}
    pages = {name: only_releases(page, versions.get(name, ())) for name, page in fetched.items()}
    targets: list[TargetPlan] = [
        plan_target(target, pins, pages, system_packages=system_packages, build_mode=build_mode)
        for target, pins in inputs.pins.items()
    ]
    return Plan(targets=tuple(targets), warnings=inputs.warnings)


def _needs_page(pin: Pin) -> bool:
    return pin.files is None and pin.unsupported is None
