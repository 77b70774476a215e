"""How each build of a plan will run: native, cross-compiled, or under QEMU.

Under QEMU an arm64 build runs 8-11x slower than on the build machine. A cross build runs
the compiler natively (a ``FROM --platform=$BUILDPLATFORM`` stage) against the target's
C library, Python sysconfig and headers and ``-dev`` libraries (Debian multiarch), and its
wheel is then checked on the target (``build.wheelcheck``) before it may enter the wheelhouse.

Two kinds of target have a cross path (``cross_problem``): Debian (apt) glibc targets, whose
cross compiler comes from the target's own Debian suite (``targets[].cross_image``, by
default the base image itself: a multi-platform registry image), and musl targets without
a package manager that carry musl-gcc specs for their own architecture (the Debian-built
musl CPython stand-ins for python:3.x-alpine) beside a ``cross_image`` with apt. Alpine (apk)
targets are emulated: no cross path for them has been tested.

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

import platform
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from packaging.utils import NormalizedName, canonicalize_name

from orchestrator.config import BuildMode, Config, TargetConfig
from orchestrator.knowledge import Knowledge, PackageKnowledge
from orchestrator.model import BuildModeName
from orchestrator.targets import CROSS_ARCHES, Arch, Target

#: How a wheel was built: on a machine of its own architecture, cross-compiled, or emulated.
Mode = BuildModeName


def host_arch() -> Arch:
    """The architecture of the machine wheelhouse runs on (BuildKit's build platform)."""
    return Arch.parse(platform.machine())


def cross_problem(tcfg: TargetConfig, build_arch: Arch) -> str | None:
    """Why ``tcfg`` cannot be cross-compiled from ``build_arch``; ``None`` when it can."""
    target = tcfg.target
    if tcfg.package_manager == "apk":
        return "no tested cross toolchain for Alpine (apk) targets"
    if target.arch not in CROSS_ARCHES or build_arch not in CROSS_ARCHES:
        return f"no Debian cross toolchain from {build_arch.value} to {target.arch.value}"
    if tcfg.package_manager == "none":
        if target.libc != "musllinux":
            return "a glibc target without a package manager brings its own (native) compiler"
        if tcfg.cross_image is None or tcfg.cross_image == tcfg.base_image:
            return (
                "a musl target without a package manager cross-compiles only with a "
                "targets[].cross_image: the same Python and musl for the build machine, with apt"
            )
        return None
    if target.libc != "manylinux":
        return f"no cross toolchain for {target.libc} targets"
    return None


def is_musl_cross(tcfg: TargetConfig) -> bool:
    """A musl target cross-compiled with its own musl-gcc specs (no package manager)."""
    return tcfg.package_manager == "none" and tcfg.target.libc == "musllinux"


@dataclass(frozen=True, kw_only=True)
class ModeChoice:
    """How one package is built first, and what happens when a cross build fails."""

    mode: Mode
    #: A failed cross build or target check is rebuilt under QEMU (``auto``).
    fallback: bool = False
    #: Why this mode (shown in reports): ``build_mode: emulate in wheelhouse.yaml``...
    reason: str = ""
    #: A forced ``cross`` that this target cannot do: the package fails with this reason.
    impossible: str | None = None


def _frozen_modes() -> Mapping[NormalizedName, BuildMode]:
    return MappingProxyType({})


@dataclass(frozen=True, kw_only=True)
class BuildModes:
    """Who asked for which mode, most specific first: ``--emulate PKG``, ``--mode``,
    ``packages.<name>.build_mode``, ``targets[].build_mode``. (In ``auto``, the builder
    also emulates what it knows cannot be cross-compiled: the knowledge file's
    ``emulate_only`` packages, Rust builds.)"""

    #: ``--mode``: every package of every target.
    override: BuildMode | None = None
    #: ``--emulate PKG`` (repeatable).
    emulate: frozenset[NormalizedName] = frozenset()
    #: ``packages.<name>.build_mode`` in wheelhouse.yaml.
    packages: Mapping[NormalizedName, BuildMode] = field(default_factory=_frozen_modes)
    #: The machine BuildKit runs cross stages on.
    build_arch: Arch = field(default_factory=host_arch)

    @classmethod
    def from_config(
        cls,
        config: Config,
        *,
        override: BuildMode | None = None,
        emulate: Sequence[str] = (),
        build_arch: Arch | None = None,
    ) -> BuildModes:
        """wheelhouse.yaml's ``packages.<name>.build_mode``, with the command line's
        ``--mode`` (``override``) and ``--emulate`` on top; cross stages run on
        ``build_arch`` (the buildx builder's native platform; ``None``: this machine's)."""
        packages = {n: pc.build_mode for n, pc in config.packages.items() if pc.build_mode}
        return cls(
            override=override,
            emulate=frozenset(canonicalize_name(n) for n in emulate),
            packages=MappingProxyType(packages),
            build_arch=build_arch or host_arch(),
        )

    def requested(self, name: NormalizedName, tcfg: TargetConfig) -> tuple[BuildMode, str]:
        """The mode asked for, and who asked."""
        if name in self.emulate:
            return "emulate", "--emulate"
        if self.override is not None:
            return self.override, f"--mode {self.override}"
        if name in self.packages:
            mode = self.packages[name]
            return mode, f"packages.{name}.build_mode: {mode}"
        if tcfg.build_mode != "auto":
            return tcfg.build_mode, f"targets[{tcfg.target.id}].build_mode: {tcfg.build_mode}"
        return "auto", "auto"

    def choose(self, name: NormalizedName, tcfg: TargetConfig) -> ModeChoice:
        if tcfg.target.arch == self.build_arch:
            return ModeChoice(mode="native", reason=f"the build machine is {self.build_arch.value}")
        requested, who = self.requested(name, tcfg)
        problem = cross_problem(tcfg, self.build_arch)
        if requested == "emulate":
            return ModeChoice(mode="emulate", reason=who)
        if requested == "cross":
            impossible = f"{who}, but {problem}" if problem else None
            return ModeChoice(mode="cross", reason=who, impossible=impossible)
        if problem is not None:
            return ModeChoice(mode="emulate", reason=problem)
        return ModeChoice(mode="cross", fallback=True, reason="auto: cross first, QEMU if it fails")


#: How each package of a target is built (the planner asks it; pure).
ModeFor = Callable[[NormalizedName, Target], ModeChoice]


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
