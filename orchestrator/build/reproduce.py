"""``build --check-reproducible``: build each built package again from scratch, compare.

The second build gets an empty build cache of its own (a temporary directory, so the
first build's cache entry stays as it is) and BuildKit's cache is already not used for
package stages (``run._buildx`` passes ``--no-cache-filter`` for them). Each package is
built again the way its first wheel was (cross, QEMU or native), so a cross-built wheel
is never compared with a QEMU fallback. The first member that differs is named: that is
where to start looking (a timestamp in a module, a path in debug info).
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from packaging.utils import NormalizedName

from orchestrator.build.cache import LEARNED_DIR, BuildCache
from orchestrator.config import BuildMode
from orchestrator.model import Artifact, TargetBuild, TargetPlan
from orchestrator.plan.modes import BuildModes

#: Builds ``plan`` with this build cache, work directory and modes (``build_target`` with
#: everything else of the first build bound).
Rebuild = Callable[[TargetPlan, BuildCache, Path, BuildModes], TargetBuild]


@dataclass(frozen=True, kw_only=True)
class Reproduction:
    """One package built twice: ``difference`` is ``None`` when the wheels are identical."""

    target: str
    name: NormalizedName
    version: str
    wheels: tuple[str, ...]
    difference: str | None
    #: Where the second build's wheels were kept when they differ (to compare by hand).
    kept: tuple[Path, ...] = ()

    @property
    def identical(self) -> bool:
        return self.difference is None

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "version": self.version,
            "wheels": list(self.wheels),
            "identical": self.identical,
            "difference": self.difference,
            "kept": [str(p) for p in self.kept],
        }


def check_reproducible(
    plan: TargetPlan,
    first: TargetBuild,
    rebuild: Rebuild,
    *,
    modes: BuildModes,
    cache: BuildCache,
    scratch: Path,
    keep: Path,
) -> tuple[Reproduction, ...]:
    """Build every package ``first`` built (or took from the build cache) again, in an
    empty temporary cache under ``scratch``, and compare its wheels byte for byte; the
    second wheels that differ are kept in ``keep``."""
    built = _built_by_name(first.artifacts)
    if not built:
        return ()
    again = replace(plan, packages=tuple(p for p in plan.packages if p.name in built))
    scratch.mkdir(parents=True, exist_ok=True)
    temp = Path(tempfile.mkdtemp(prefix="rebuild-", dir=scratch))
    try:
        fresh = BuildCache(temp / "built")
        _copy_learned(cache, fresh)
        second = rebuild(again, fresh, temp / "work", _same_modes(built, modes))
        found = [_compare(plan, name, wheels, second) for name, wheels in built.items()]
        return tuple(_kept(r, second, keep) for r in found)
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def _built_by_name(artifacts: Sequence[Artifact]) -> dict[NormalizedName, list[Artifact]]:
    built: dict[NormalizedName, list[Artifact]] = {}
    for artifact in sorted(artifacts, key=lambda a: (a.name, a.path.name)):
        if artifact.origin == "built":
            built.setdefault(artifact.name, []).append(artifact)
    return built


def _copy_learned(cache: BuildCache, fresh: BuildCache) -> None:
    """What backends asked for beyond build-system.requires: the rebuild need not learn it
    again with a failed attempt (it is an input, not a result)."""
    learned = cache.root / LEARNED_DIR
    if learned.is_dir():
        shutil.copytree(learned, fresh.root / LEARNED_DIR)


def _same_modes(built: dict[NormalizedName, list[Artifact]], modes: BuildModes) -> BuildModes:
    """Each package the way its first wheel was built (``native`` is what ``auto`` gives
    on the build machine's own architecture)."""
    wanted: dict[NormalizedName, BuildMode] = {}
    for name, artifacts in built.items():
        mode = artifacts[0].build_mode
        wanted[name] = "cross" if mode == "cross" else "emulate" if mode == "emulate" else "auto"
    return BuildModes(packages=wanted, build_arch=modes.build_arch)


def _compare(
    plan: TargetPlan, name: NormalizedName, first: list[Artifact], second: TargetBuild
) -> Reproduction:
    again = sorted((a for a in second.artifacts if a.name == name), key=lambda a: a.path.name)
    failed = [f for f in second.failures if f.name == name]
    difference: str | None
    if failed:
        difference = f"the second build failed: {failed[0].reason}"
    else:
        difference = _difference([a.path for a in first], [a.path for a in again])
    return Reproduction(
        target=plan.target.id,
        name=name,
        version=first[0].version,
        wheels=tuple(a.path.name for a in first),
        difference=difference,
    )


def _kept(found: Reproduction, second: TargetBuild, keep: Path) -> Reproduction:
    if found.identical:
        return found
    wheels = [a.path for a in second.artifacts if a.name == found.name]
    if not wheels:
        return found
    keep.mkdir(parents=True, exist_ok=True)
    for wheel in wheels:
        shutil.copyfile(wheel, keep / wheel.name)
    return replace(found, kept=tuple(keep / w.name for w in wheels))


def _difference(first: Sequence[Path], second: Sequence[Path]) -> str | None:
    names = [p.name for p in first], [p.name for p in second]
    if names[0] != names[1]:
        return f"other wheel files: {', '.join(names[0])} then {', '.join(names[1]) or 'none'}"
    for one, two in zip(first, second, strict=True):
        found = first_difference(one, two)
        if found is not None:
            return f"{one.name}: {found}"
    return None


def first_difference(first: Path, second: Path) -> str | None:
    """``None`` when the two files are byte-identical, else the first wheel member that
    differs (in the first wheel's order), or what else does."""
    if first.read_bytes() == second.read_bytes():
        return None
    try:
        with zipfile.ZipFile(first) as one, zipfile.ZipFile(second) as two:
            return _member_difference(one, two)
    except (OSError, zipfile.BadZipFile) as exc:
        return f"the files differ and cannot be compared as wheels ({exc})"


def _member_difference(one: zipfile.ZipFile, two: zipfile.ZipFile) -> str:
    names = one.namelist(), two.namelist()
    only = sorted(set(names[0]) ^ set(names[1]))
    if only:
        return f"member {only[0]} is in only one of them"
    if names[0] != names[1]:
        return "the same members in another order"
    for info in one.infolist():
        other = two.getinfo(info.filename)
        if one.read(info) != two.read(other):
            return f"member {info.filename} differs"
        if (info.date_time, info.external_attr) != (other.date_time, other.external_attr):
            return f"member {info.filename}: the same bytes with another time or mode"
    return "the same members and bytes, another zip encoding"
