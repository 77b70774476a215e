"""Is a target's set of pins closed? Every ``Requires-Dist`` of every pin, for the target.

Pure: the target, its pins and each pin's metadata (``Requires-Dist`` strings) are handed
in; the answer is the dependencies no pin provides (``Missing``) and the pins outside a
dependent's specifier (``Conflict``), each with a sentence that says why, for that target.
Markers are evaluated with the target's environment (its real ``python_full_version``
when known), with each extra asked for, by the input or by a dependent (``b[x]``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from packaging._parser import Variable  # packaging has no public walk of a marker
from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name

from orchestrator.model import Pin
from orchestrator.targets import Target


@dataclass(frozen=True, kw_only=True)
class Missing:
    """A dependency no pin provides on the target."""

    name: NormalizedName
    requirement: str  # ``async-timeout>=4.0.3`` (no marker)
    needed_by: str  # ``redis 5.2.1``
    why: str  # ``python_full_version 3.11.2 < 3.11.3``; "" without a marker

    @property
    def sentence(self) -> str:
        where = f" ({self.why})" if self.why else ""
        return f"needed by {self.needed_by} on this target{where}"


@dataclass(frozen=True, kw_only=True)
class Conflict:
    """A pin outside the specifier one of its dependents asks for."""

    name: NormalizedName
    pinned: str
    requirement: str
    needed_by: str

    @property
    def sentence(self) -> str:
        return (
            f"{self.needed_by} requires {self.requirement}, but {self.name} {self.pinned} is pinned"
        )


@dataclass(frozen=True, kw_only=True)
class Closure:
    missing: tuple[Missing, ...] = ()
    conflicts: tuple[Conflict, ...] = ()

    @property
    def closed(self) -> bool:
        return not self.missing and not self.conflicts


def check_closure(
    target: Target,
    pins: Iterable[Pin],
    requires: Mapping[NormalizedName, tuple[str, ...]],
) -> Closure:
    """Check every pin that has metadata in ``requires`` (by name) against all the pins."""
    pinned = {p.name: p for p in pins if p.version is not None}
    extras: dict[NormalizedName, set[str]] = {n: set(p.extras) for n, p in pinned.items()}
    seen: set[tuple[NormalizedName, str]] = set()
    queue = [(name, extra) for name in pinned for extra in ("", *sorted(extras[name]))]
    missing: dict[NormalizedName, Missing] = {}
    conflicts: dict[tuple[NormalizedName, str], Conflict] = {}
    env = target.marker_environment
    while queue:
        name, extra = queue.pop(0)
        if (name, extra) in seen or name not in requires:
            continue
        seen.add((name, extra))
        pin = pinned[name]
        by = f"{name} {pin.version}"
        for requirement in _parse(requires[name]):
            if requirement.marker is not None and not requirement.marker.evaluate(
                {**env, "extra": extra}
            ):
                continue
            dep = canonicalize_name(requirement.name)
            bare = _bare(requirement)
            if dep not in pinned:
                why = _why(requirement.marker, {**env, "extra": extra})
                missing.setdefault(dep, Missing(name=dep, requirement=bare, needed_by=by, why=why))
                continue
            version = pinned[dep].version
            assert version is not None
            if not requirement.specifier.contains(version, prereleases=True):
                conflicts.setdefault(
                    (dep, by),
                    Conflict(name=dep, pinned=str(version), requirement=bare, needed_by=by),
                )
            queue.extend((dep, e) for e in sorted(requirement.extras) if (dep, e) not in seen)
    return Closure(missing=tuple(missing.values()), conflicts=tuple(conflicts.values()))


def _parse(lines: Iterable[str]) -> Iterable[Requirement]:
    for line in lines:
        try:
            yield Requirement(line)
        except InvalidRequirement:
            continue  # pip skips a broken Requires-Dist too (with a warning)


def _bare(requirement: Requirement) -> str:
    extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
    return f"{requirement.name}{extras}{requirement.specifier}"


def _why(marker: Marker | None, env: Mapping[str, str]) -> str:
    """The marker's comparisons that hold on the target, with the target's values:
    ``python_full_version 3.11.2 < 3.11.3``."""
    if marker is None:
        return ""
    parts = [
        f"{name} {env.get(name, '')} {op} {value}"
        for name, op, value in _leaves(marker._markers)  # packaging has no public walk
        if name != "extra" and Marker(f'{name} {op} "{value}"').evaluate(dict(env))
    ]
    extra = env.get("extra", "")
    if extra and any(name == "extra" for name, _op, _value in _leaves(marker._markers)):
        parts.append(f"extra {extra}")
    return ", ".join(parts) or str(marker)


def _leaves(markers: object) -> Iterable[tuple[str, str, str]]:
    if isinstance(markers, list):
        for item in markers:
            yield from _leaves(item)
    elif isinstance(markers, tuple) and len(markers) == 3:
        left, op, right = markers
        if isinstance(left, Variable):
            yield left.value, op.value, right.value
