"""The cross toolchain stage's inputs: which apt packages a cross build installs, and the
triplet naming the target's sysconfig data and compiler wrappers.

Pure. Which mode a package gets is the planner's (``orchestrator.plan.modes``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from orchestrator.config import TargetConfig
from orchestrator.plan.modes import is_musl_cross
from orchestrator.targets import CROSS_ARCHES, CrossArch

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


def cross_triplet(tcfg: TargetConfig) -> str:
    """The triplet naming the target's sysconfig data and its cross compiler wrappers."""
    arch = CROSS_ARCHES[tcfg.target.arch]
    return arch.musl_triplet if is_musl_cross(tcfg) else arch.triplet


def target_cross_packages(tcfg: TargetConfig, packages: Iterable[str]) -> tuple[str, ...]:
    """The cross toolchain stage's apt packages for a target whose toolchain is ``packages``.

    A musl target's C library, headers and specs come from the target image itself: the
    stage needs only Debian's cross compiler (gcc and binutils) for the architecture, and
    the build machine's make and patch (for recipes' patches), pkgconf (the config tools
    that answer for the target, dockerfiles/cross-config.sh, are its answers), and its own
    compilers."""
    arch = CROSS_ARCHES[tcfg.target.arch]
    if is_musl_cross(tcfg):
        packages = {f"gcc-{arch.package_suffix}", "make", "patch", "pkgconf", *BUILD_MACHINE}
        return tuple(sorted(packages))
    return cross_packages(packages, arch, tcfg.target.python_version)


#: The build machine's own compilers and C library (build-essential without dpkg-dev, as
#: Debian's crossbuild-essential-<arch> expects beside it): in every cross toolchain, for
#: what a build compiles and runs on the build machine, such as a code generator that a
#: Makefile or a recipe's before_build builds with plain `gcc`/`g++`. The target's code
#: is compiled by CC/CXX, the cross compilers; the target check still catches a wheel
#: whose objects came out for the build machine.
BUILD_MACHINE = ("gcc", "g++", "make", "libc6-dev")


def cross_packages(
    packages: Iterable[str], arch: CrossArch, python_version: str
) -> tuple[str, ...]:
    """The cross toolchain stage's apt packages for a target's toolchain ``packages``.

    The compiler and C library become Debian's cross packages (``gcc-aarch64-linux-gnu``,
    ``libc6-dev-arm64-cross``), ``python3-dev`` the target's ``libpython3.X-dev:arm64``,
    tools that run during the build (make, pkgconf, cmake...) stay the build machine's,
    and every other package (``libffi-dev``, ``libpq-dev``...) is the target's:
    ``libffi-dev:arm64``; the build machine's own compilers (``BUILD_MACHINE``) beside
    them. Sorted, each once.
    """
    # pkgconf: what `pkg-config` and the stand-in config tools (cross-config.sh) answer with.
    result = {
        f"gcc-{arch.package_suffix}",
        f"libc6-dev-{arch.debian}-cross",
        "pkgconf",
        *BUILD_MACHINE,
    }
    for package in packages:
        if package == "build-essential":
            # Its compilers for the target, its make for the build machine.
            result.update((f"g++-{arch.package_suffix}", "make"))
            continue
        result.add(_cross_package(package, arch, python_version))
    return tuple(sorted(result))


def _cross_package(package: str, arch: CrossArch, python_version: str) -> str:
    if package in _COMPILERS:
        return f"{_COMPILERS[package]}-{arch.package_suffix}"
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
