"""Build modes: cross-compile on the build machine, or emulate the target under QEMU.

Under QEMU an arm64 build runs 8-11x slower than on the build machine. A cross build runs
the compiler natively (a ``FROM --platform=$BUILDPLATFORM`` stage) against the target's
C library, Python sysconfig and headers and ``-dev`` libraries (Debian multiarch), and its
wheel is then checked on the target (``wheelcheck``) before it may enter the wheelhouse.

Two kinds of target have a cross path:

- Debian (apt) glibc targets: the cross compiler must come from the target's own Debian
  suite (a newer suite's toolchain builds wheels that fail at import with
  ``__isoc23_sscanf``), so the build-machine image is the same image for the build
  platform (``targets[].cross_image``, by default the base image itself: a multi-platform
  registry image).
- musl targets without a package manager that carry a musl-gcc toolchain for their own
  architecture (the Debian-built musl CPython stand-ins for python:3.x-alpine): with a
  ``cross_image`` of the same Python and musl for the build platform (with apt), Debian's
  cross gcc links against the target's own musl, found through the target's
  ``musl-gcc.specs`` (``dockerfiles/cross-python.sh``).

Alpine (apk) targets are emulated: no cross path for them has been tested.

Everything here is pure: which mode a package gets, and which apt packages the cross
toolchain stage installs.
"""

from __future__ import annotations

import platform
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from packaging.utils import NormalizedName, canonicalize_name

from orchestrator.config import BuildMode, Config, TargetConfig
from orchestrator.model import BuildModeName
from orchestrator.targets import Arch

#: How a wheel was built: on a machine of its own architecture, cross-compiled, or emulated.
Mode = BuildModeName


@dataclass(frozen=True, kw_only=True)
class CrossArch:
    """A target architecture as Debian's cross toolchains name it."""

    #: dpkg's architecture name (``dpkg --add-architecture``, ``libffi-dev:arm64``).
    debian: str
    #: The GNU triplet: compiler prefix and multiarch directory (``aarch64-linux-gnu``).
    triplet: str
    #: ``sysconfig.get_platform()`` on the target (``_PYTHON_HOST_PLATFORM``).
    host_platform: str
    #: musl's triplet: the target's sysconfig name and its musl-gcc's directory.
    musl_triplet: str

    @property
    def package_suffix(self) -> str:
        """Debian's package-name form of the triplet (``x86_64`` becomes ``x86-64``)."""
        return self.triplet.replace("_", "-")


CROSS_ARCHES: Mapping[Arch, CrossArch] = MappingProxyType(
    {
        Arch.AARCH64: CrossArch(
            debian="arm64",
            triplet="aarch64-linux-gnu",
            host_platform="linux-aarch64",
            musl_triplet="aarch64-linux-musl",
        ),
        Arch.X86_64: CrossArch(
            debian="amd64",
            triplet="x86_64-linux-gnu",
            host_platform="linux-x86_64",
            musl_triplet="x86_64-linux-musl",
        ),
        Arch.ARMV7L: CrossArch(
            debian="armhf",
            triplet="arm-linux-gnueabihf",
            host_platform="linux-armv7l",
            musl_triplet="arm-linux-musleabihf",
        ),
    }
)

#: Compilers a build asks for by their native name, and their cross package's prefix.
_COMPILERS = {"gcc": "gcc", "g++": "g++", "gfortran": "gfortran", "cpp": "cpp"}
#: Packages of programs that run during the build: installed for the build machine.
_BUILD_TOOLS = frozenset(
    {
        "autoconf",
        "automake",
        "bison",
        "cargo",
        "cmake",
        "cython3",
        "file",
        "flex",
        "gettext",
        "git",
        "libtool",
        "libtool-bin",
        "m4",
        "make",
        "meson",
        "nasm",
        "ninja-build",
        "patch",
        "patchelf",
        "perl",
        "pkg-config",
        "pkgconf",
        "protobuf-compiler",
        "rustc",
        "swig",
        "yasm",
    }
)
_PYTHON_DEV = re.compile(r"^(?:lib)?python3(?:\.(?P<minor>\d+))?-dev$")


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


def cross_triplet(tcfg: TargetConfig) -> str:
    """The triplet naming the target's sysconfig data and its cross compiler wrappers."""
    arch = CROSS_ARCHES[tcfg.target.arch]
    return arch.musl_triplet if is_musl_cross(tcfg) else arch.triplet


def target_cross_packages(tcfg: TargetConfig, packages: Iterable[str]) -> tuple[str, ...]:
    """The cross toolchain stage's apt packages for a target whose toolchain is ``packages``.

    A musl target's C library, headers and specs come from the target image itself: the
    stage needs only Debian's cross compiler (gcc and binutils) for the architecture."""
    arch = CROSS_ARCHES[tcfg.target.arch]
    if is_musl_cross(tcfg):
        return (f"gcc-{arch.package_suffix}",)
    return cross_packages(packages, arch, tcfg.target.python_version)


def cross_packages(
    packages: Iterable[str], arch: CrossArch, python_version: str
) -> tuple[str, ...]:
    """The cross toolchain stage's apt packages for a target's toolchain ``packages``.

    The compiler and C library become Debian's cross packages (``gcc-aarch64-linux-gnu``,
    ``libc6-dev-arm64-cross``), ``python3-dev`` the target's ``libpython3.X-dev:arm64``,
    tools that run during the build (make, pkgconf, cmake...) stay the build machine's,
    and every other package (``libffi-dev``, ``libpq-dev``...) is the target's:
    ``libffi-dev:arm64``. Sorted, each once.
    """
    result = {f"gcc-{arch.package_suffix}", f"libc6-dev-{arch.debian}-cross"}
    for package in packages:
        result.add(_cross_package(package, arch, python_version))
    return tuple(sorted(result))


def _cross_package(package: str, arch: CrossArch, python_version: str) -> str:
    if package in _COMPILERS:
        return f"{_COMPILERS[package]}-{arch.package_suffix}"
    if package == "build-essential":
        return "make"
    if package in ("libc6-dev", "linux-libc-dev"):
        # The cross libc's -dev package brings the target's kernel headers along
        # (linux-libc-dev-<arch>-cross), where the cross compiler looks for them.
        return f"libc6-dev-{arch.debian}-cross"
    python = _PYTHON_DEV.match(package)
    if python is not None:
        minor = python["minor"] or python_version.split(".")[1]
        return f"libpython3.{minor}-dev:{arch.debian}"
    if package in _BUILD_TOOLS or ":" in package:
        return package
    return f"{package}:{arch.debian}"


# --- choosing a package's mode --------------------------------------------------------------


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
