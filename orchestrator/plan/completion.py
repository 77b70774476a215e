"""A target's plan made closed: its pins checked against their metadata, completed or not.

After the planner has chosen a file per pin, each file's ``Requires-Dist`` is checked
for the target (``closure``). What no pin provides is, with ``resolve: auto``, resolved
by uv for the target constrained by every pin (``ResolveMissing``) and planned like the
rest, again until nothing is missing; with ``resolve: never`` (and for a uv.lock, whose
edges should already be the closure) each is an error row saying why and how to fix the
input. A pin outside a dependent's specifier is an error row naming both.

The outside world (metadata, the resolver, the index) is handed in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from packaging.utils import NormalizedName

from orchestrator.model import PackagePlan, Pin, ReleaseFile, TargetPlan
from orchestrator.plan.closure import Closure, Missing, check_closure
from orchestrator.targets import Target

#: Rounds of completion before giving up (each added pin may need more).
MAX_ROUNDS = 5


@dataclass(frozen=True, kw_only=True)
class Requires:
    """A file's ``Requires-Dist``; ``dynamic`` for an sdist that may say more once built."""

    requires_dist: tuple[str, ...]
    dynamic: bool = False


#: Each file's requirements by URL, or a sentence saying why they could not be read.
FetchRequires = Callable[[Sequence[ReleaseFile]], Mapping[str, Requires | str]]
#: uv, for a target: pins for the requirements, constrained by the pins given.
ResolveMissing = Callable[[Target, Sequence[str], Sequence[Pin]], tuple[Pin, ...]]
#: The plan of a target for some pins (the planner, with the index pages at hand).
PlanPins = Callable[[Target, Sequence[Pin]], TargetPlan]
#: The release file a planned package names (with what its index page says of it).
FindFile = Callable[[PackagePlan], ReleaseFile | None]


@dataclass(frozen=True, kw_only=True)
class ClosureCheck:
    fetch_requires: FetchRequires
    #: ``None``: report what is missing (``resolve: never``, uv.lock input).
    resolve_missing: ResolveMissing | None
    source: Literal["requirements", "uv.lock"] = "requirements"
    #: The command that would pin the input for a target (the error rows' fix).
    fix_command: Callable[[Target], str] = lambda target: "uv pip compile"


@dataclass(frozen=True, kw_only=True)
class Completed:
    plan: TargetPlan
    #: What was added, by name, and why (sentences for the plan's notes).
    added: Mapping[NormalizedName, str]


def complete_target(
    target: Target,
    pins: Sequence[Pin],
    *,
    plan_pins: PlanPins,
    find_file: FindFile,
    check: ClosureCheck,
) -> Completed:
    """The target's plan with every dependency of every pin in it (or an error row)."""
    pins = list(pins)
    added: dict[NormalizedName, Missing] = {}
    for _round in range(MAX_ROUNDS):
        plan = plan_pins(target, pins)
        requires, unreadable = _requires(plan, find_file, check.fetch_requires)
        closure = check_closure(target, pins, requires)
        if not closure.missing or check.resolve_missing is None:
            break
        new = check.resolve_missing(target, [m.requirement for m in closure.missing], pins)
        new = tuple(p for p in new if p.name not in {q.name for q in pins})
        if not new:
            break
        for missing in closure.missing:
            added.setdefault(missing.name, missing)
        pins.extend(new)
    packages = _with_findings(plan, closure, unreadable, check, target, added)
    notes = {
        p.name: f"{p.name} {p.version}: {added[p.name].sentence}"
        for p in packages
        if p.name in added
    }
    return Completed(plan=replace(plan, packages=packages), added=notes)


def _requires(
    plan: TargetPlan, find_file: FindFile, fetch: FetchRequires
) -> tuple[dict[NormalizedName, tuple[str, ...]], dict[NormalizedName, str]]:
    files = {p.name: find_file(p) for p in plan.packages if p.action in ("download", "build")}
    answers = fetch([f for f in files.values() if f is not None])
    requires: dict[NormalizedName, tuple[str, ...]] = {}
    unreadable: dict[NormalizedName, str] = {}
    for name, file in files.items():
        answer = answers.get(file.url) if file is not None else None
        if isinstance(answer, Requires):
            requires[name] = answer.requires_dist
        elif isinstance(answer, str):
            unreadable[name] = answer
    return requires, unreadable


def _with_findings(  # noqa: PLR0917
    plan: TargetPlan,
    closure: Closure,
    unreadable: Mapping[NormalizedName, str],
    check: ClosureCheck,
    target: Target,
    added: Mapping[NormalizedName, Missing],
) -> tuple[PackagePlan, ...]:
    conflicts = {c.name: c for c in closure.conflicts}
    rows: list[PackagePlan] = []
    for package in plan.packages:
        if package.name in conflicts:
            conflict = conflicts[package.name]
            rows.append(
                _error(
                    package,
                    f"{conflict.sentence}: pin a {package.name} that {conflict.needed_by} "
                    f"accepts, or another {conflict.needed_by.split()[0]}",
                )
            )
        elif package.name in unreadable:
            rows.append(
                _error(package, f"its metadata could not be read: {unreadable[package.name]}")
            )
        elif package.name in added:
            why = f"added: {added[package.name].sentence}"
            rows.append(replace(package, reason=f"{why}; {package.reason}".rstrip("; ")))
        else:
            rows.append(package)
    rows.extend(_missing_row(m, check, target) for m in closure.missing if m.name not in added)
    return tuple(sorted(rows, key=lambda p: p.name))


def _missing_row(missing: Missing, check: ClosureCheck, target: Target) -> PackagePlan:
    if check.source == "uv.lock":
        reason = (
            f"{missing.requirement} is not in uv.lock for this target, yet {missing.sentence}: "
            "the lock is stale; run `uv lock` and plan again"
        )
    elif check.resolve_missing is None:
        reason = (
            f"{missing.requirement} is not pinned, yet {missing.sentence}; `resolve: never` "
            f"adds nothing: pin it for this target (`{check.fix_command(target)}`) or set "
            "`resolve: auto`"
        )
    else:
        reason = f"{missing.requirement} is {missing.sentence}, and uv added no pin for it"
    return PackagePlan(name=missing.name, version="", action="error", reason=reason)


def _error(package: PackagePlan, reason: str) -> PackagePlan:
    return PackagePlan(name=package.name, version=package.version, action="error", reason=reason)
