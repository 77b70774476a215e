"""How each build of a plan will run: native, cross-compiled, or under QEMU.

``BuildModes.choose`` decides (``--emulate``, ``--mode``, ``packages.<name>.build_mode``,
``targets[].build_mode``, whether the target has a cross path). The plan adds to it only
what the builder also knows before it builds, from the knowledge file
(``known_cross_problem``, which the builder asks too): in ``auto`` an ``emulate_only``
package is emulated, and a ``rust: true`` package is never cross-compiled. What the
builder learns only from the sdist (a Rust build the knowledge file does not list, a build
requirement that must itself be built for the target) can still send a ``cross`` build to QEMU.

Pure: the modes, the knowledge and the target configs are handed in.
"""

from __future__ import annotations

from collections.abc import Callable

from packaging.utils import NormalizedName

from orchestrator.config import TargetConfig
from orchestrator.crossbuild import BuildModes, ModeChoice
from orchestrator.knowledge import Knowledge, PackageKnowledge
from orchestrator.planner import ModeFor
from orchestrator.targets import Target

EMULATE_ONLY = "the knowledge file says its build can only be emulated"
RUST = "Rust builds are not cross-compiled (no Rust std library for the target)"


def planned_mode(
    modes: BuildModes, tcfg: TargetConfig, knowledge: Knowledge, name: NormalizedName
) -> ModeChoice:
    """``modes.choose``, then what the knowledge file says of ``name``'s cross build."""
    choice = modes.choose(name, tcfg)
    if choice.mode != "cross" or choice.impossible is not None:
        return choice
    problem = known_cross_problem(knowledge.packages.get(name), auto=choice.fallback)
    if problem is None:
        return choice
    if choice.fallback:
        return ModeChoice(mode="emulate", reason=problem)
    return ModeChoice(
        mode="cross", reason=choice.reason, impossible=f"{choice.reason}, but {problem}"
    )


def plan_modes(
    modes: BuildModes, knowledge: Knowledge, target_config: Callable[[Target], TargetConfig]
) -> ModeFor:
    """The planner's ``build_mode``: ``planned_mode`` for each (package, target)."""

    def mode_for(name: NormalizedName, target: Target) -> ModeChoice:
        return planned_mode(modes, target_config(target), knowledge, name)

    return mode_for


def known_cross_problem(known: PackageKnowledge | None, *, auto: bool) -> str | None:
    """Why the knowledge file's entry keeps a package from a cross build; ``None`` if not.
    ``emulate_only`` counts in ``auto`` only: a forced ``cross`` tries it anyway."""
    if known is None:
        return None
    if auto and known.emulate_only:
        return EMULATE_ONLY + (f": {known.notes}" if known.notes else "")
    return RUST if known.rust else None
