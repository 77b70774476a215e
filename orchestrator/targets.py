"""Targets: a CPython version x a CPU architecture x a libc (with its version).

Everything here is computed *for the target*, never for the host: its wheel
tags (via ``packaging.tags``), its marker environment, its Docker platform.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from functools import cached_property
from types import MappingProxyType
from typing import Literal

from packaging.tags import Tag, compatible_tags, cpython_tags

from orchestrator.errors import TargetError

Libc = Literal["manylinux", "musllinux"]


class Arch(Enum):
    """CPU architectures, named as wheel platform tags and ``platform.machine()`` name them."""

    AARCH64 = "aarch64"
    X86_64 = "x86_64"
    ARMV7L = "armv7l"

    @property
    def docker_platform(self) -> str:
        return _DOCKER_PLATFORMS[self]

    @property
    def docker_arch(self) -> str:
        """The short name Docker and Debian use (``arm64``, ``amd64``, ``arm``)."""
        return _DOCKER_PLATFORMS[self].split("/")[1]

    @property
    def oldest_glibc_minor(self) -> int:
        """manylinux tags start at glibc 2.5 on x86, at 2.17 (manylinux2014) elsewhere."""
        return 5 if self is Arch.X86_64 else 17

    def __lt__(self, other: object) -> bool:
        # Target is ordered (order=True) and compares its arch last: Enum has no order.
        if not isinstance(other, Arch):
            return NotImplemented
        return self.value < other.value

    @classmethod
    def parse(cls, text: str) -> Arch:
        """Accept the wheel name (``aarch64``), the Docker name (``arm64``), and for 32-bit
        ARM ``armv7`` and Debian's ``armhf`` too."""
        key = text.strip().lower()
        key = _ALIASES.get(key, key)
        for arch in cls:
            if key in (arch.value, arch.docker_arch, arch.docker_platform):
                return arch
        known = ", ".join(f"{a.docker_arch} ({a.value})" for a in cls)
        raise TargetError(f"unknown architecture {text!r}", hint=f"use one of: {known}")


#: Other names people use for an architecture.
_ALIASES = {"armv7": "armv7l", "armhf": "armv7l", "arm/v7": "armv7l"}

_DOCKER_PLATFORMS = {
    Arch.AARCH64: "linux/arm64",
    Arch.X86_64: "linux/amd64",
    Arch.ARMV7L: "linux/arm/v7",
}

# Where plain ``linux_<arch>`` wheels are worth taking: pip accepts them on every glibc Linux,
# but PyPI refuses them; the one index that serves them by the thousand is piwheels, built on
# 32-bit Raspberry Pi OS. Elsewhere such a wheel is usually a build host's, not portable.
_PLAIN_LINUX_ARCHES = frozenset({Arch.ARMV7L})

# Legacy manylinux names, emitted right after the PEP 600 tag they alias (as packaging does).
_LEGACY_MANYLINUX = {(2, 17): "manylinux2014", (2, 12): "manylinux2010", (2, 5): "manylinux1"}

_TARGET_ID = re.compile(
    r"^cp(?P<major>3)(?P<minor>\d{1,2})-(?P<libc>manylinux|musllinux)"
    r"_(?P<lmajor>\d+)_(?P<lminor>\d+)_(?P<arch>[a-z0-9_]+)$"
)


@dataclass(frozen=True, kw_only=True, order=True)
class Target:
    """One place the app must run, e.g. ``cp312-musllinux_1_2_aarch64``."""

    python: tuple[int, int]
    libc: Libc
    libc_version: tuple[int, int]
    arch: Arch
    #: The interpreter's micro version (``2`` of 3.11.2), when known: from the base image or
    #: ``targets[].python_full_version``. Not part of the identity: the id says ``cp311``.
    python_micro: int | None = field(default=None, compare=False)

    @classmethod
    def parse(cls, text: str) -> Target:
        match = _TARGET_ID.match(text.strip())
        if not match:
            raise TargetError(
                f"malformed target id {text!r}",
                hint="a target id reads cpXY-<manylinux_2_N|musllinux_1_N>_<arch>, "
                "e.g. cp312-musllinux_1_2_aarch64 or cp311-manylinux_2_36_x86_64",
            )
        arch = Arch.parse(match["arch"])
        if match["arch"] != arch.value:
            raise TargetError(
                f"target id {text!r} names the architecture as {match['arch']!r}",
                hint=f"target ids use the wheel tag name: {arch.value}",
            )
        libc_version = (int(match["lmajor"]), int(match["lminor"]))
        libc: Libc = "manylinux" if match["libc"] == "manylinux" else "musllinux"
        _check_libc_version(text, libc, libc_version, arch)
        return cls(
            python=(3, int(match["minor"])),
            libc=libc,
            libc_version=libc_version,
            arch=arch,
        )

    @property
    def id(self) -> str:
        return f"{self.interpreter}-{self.platform_tag}"

    def __str__(self) -> str:
        return self.id

    @property
    def interpreter(self) -> str:
        return f"cp{self.python[0]}{self.python[1]}"

    @property
    def python_version(self) -> str:
        return f"{self.python[0]}.{self.python[1]}"

    @property
    def python_full_version(self) -> str:
        """``3.11.2`` when the micro version is known, else ``3.11.0`` (what markers assume)."""
        return f"{self.python_version}.{self.python_micro or 0}"

    def with_full_version(self, text: str) -> Target:
        """This target with the interpreter ``text`` (``3.11.2``) names; raises ``TargetError``
        when it is not an X.Y.Z of this target's X.Y."""
        match = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", text.strip())
        if match is None or (int(match[1]), int(match[2])) != self.python:
            raise TargetError(
                f"python_full_version {text!r} is not a {self.python_version}.Z version "
                f"of target {self.id}",
                hint=f"write the interpreter's version, e.g. {self.python_version}.2",
            )
        return replace(self, python_micro=int(match[3]))

    @property
    def platform_tag(self) -> str:
        """The tag auditwheel repairs to, and the best platform tag the target accepts."""
        major, minor = self.libc_version
        return f"{self.libc}_{major}_{minor}_{self.arch.value}"

    @property
    def description(self) -> str:
        """Human words for reasons: ``musllinux aarch64``."""
        return f"{self.libc} {self.arch.value}"

    @cached_property
    def platforms(self) -> tuple[str, ...]:
        """Platform tags the target accepts, best first, as pip computes them on the target
        (plain ``linux_<arch>`` last, and only for armv7l, where piwheels publishes them)."""
        major, newest = self.libc_version
        arch = self.arch.value
        if self.libc == "musllinux":
            return tuple(f"musllinux_{major}_{m}_{arch}" for m in range(newest, -1, -1))
        tags: list[str] = []
        for minor in range(newest, self.arch.oldest_glibc_minor - 1, -1):
            tags.append(f"manylinux_{major}_{minor}_{arch}")
            legacy = _LEGACY_MANYLINUX.get((major, minor))
            if legacy:
                tags.append(f"{legacy}_{arch}")
        if self.arch in _PLAIN_LINUX_ARCHES:
            tags.append(f"linux_{arch}")
        return tuple(tags)

    @cached_property
    def tags(self) -> tuple[Tag, ...]:
        """Every wheel tag the target installs, in pip's order of preference."""
        abi = self.interpreter
        ordered = [
            *cpython_tags(self.python, [abi], list(self.platforms)),
            *compatible_tags(self.python, abi, list(self.platforms)),
        ]
        return tuple(dict.fromkeys(ordered))

    @cached_property
    def tag_rank(self) -> dict[Tag, int]:
        """Lower is better, as pip ranks wheels."""
        return {tag: index for index, tag in enumerate(self.tags)}

    @cached_property
    def marker_environment(self) -> dict[str, str]:
        """PEP 508 environment of the target (never the host's)."""
        full = self.python_full_version
        return {
            "implementation_name": "cpython",
            "implementation_version": full,
            "os_name": "posix",
            "platform_machine": self.arch.value,
            "platform_python_implementation": "CPython",
            "platform_release": "",
            "platform_system": "Linux",
            "platform_version": "",
            "python_full_version": full,
            "python_version": self.python_version,
            "sys_platform": "linux",
        }

    @property
    def default_base_image(self) -> str:
        """The official image users build in: Alpine for musl, slim Debian for glibc."""
        flavour = "alpine" if self.libc == "musllinux" else "slim"
        return f"python:{self.python_version}-{flavour}"


def _check_libc_version(text: str, libc: Libc, version: tuple[int, int], arch: Arch) -> None:
    if libc == "musllinux" and version[0] != 1:
        raise TargetError(
            f"target {text!r}: musllinux versions are 1.x (musl 1.2 is musllinux_1_2)",
            hint="e.g. cp312-musllinux_1_2_aarch64",
        )
    if libc == "manylinux" and (version[0] != 2 or version[1] < arch.oldest_glibc_minor):
        raise TargetError(
            f"target {text!r}: manylinux versions are glibc 2.x, "
            f"at least 2_{arch.oldest_glibc_minor} on {arch.value}",
            hint="e.g. cp312-manylinux_2_36_aarch64 for Debian bookworm (glibc 2.36)",
        )


@dataclass(frozen=True, kw_only=True)
class CrossArch:
    """A target architecture as Debian's cross toolchains and CPython's sysconfig name it."""

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
