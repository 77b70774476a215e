"""Recorded resolutions of build requirements: ``<cache>/resolutions/<key>.json``.

Each sdist's build requirements (and the build tools) are resolved for the target by uv
and the index on every run, a second or more each, although a run with nothing changed
gets the same answer. So the last successful answer is recorded, under a key of
everything the resolver is handed: the requirement strings (build-system.requires, what
the backend asked for), the target (the build machine's, for a cross build), the index
URLs, ``force_build``, the ``UV_*`` environment (``UV_CONSTRAINT``, ``UV_EXCLUDE_NEWER``
...) and uv's and wheelhouse's versions. It is reused while it is younger than
``build.resolution_ttl`` (24 h by default) unless ``--refresh`` is given.

The one input no key can hold is what the index publishes meanwhile: a new setuptools
is picked up when the record expires, or at once with ``--refresh``. A record names exact
files by sha256 and the build cache keys each build by the hashes of the files it is
handed, so a hit in the build cache still means these exact inputs built the wheel. A
record that is corrupt, of another format, from the future, or whose files are no longer
in the download store is ignored and resolved again; only answers without a problem and
with a sha256 for every file are recorded.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import packaging
from packaging.utils import canonicalize_name

from orchestrator import __version__, targets
from orchestrator.build import requires
from orchestrator.build.requires import ResolvedWheels
from orchestrator.model import PackagePlan
from orchestrator.paths import write_atomically
from orchestrator.plan import planner
from orchestrator.plan.planner import SystemPackagesFor
from orchestrator.pypi import uv
from orchestrator.targets import Target

RECORDS_DIR = "resolutions"
#: Bump when the record layout or the key's meaning changes: older records then miss.
RECORD_FORMAT = 1
#: Environment variables that steer uv's answer start with this.
UV_ENV_PREFIX = "UV_"

Resolve = Callable[[Sequence[str], Target], ResolvedWheels]

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class StoredFiles(Protocol):
    """``downloads.FileStore``: where a downloaded file is, ``None`` when it is not there."""

    def get(self, sha256: str | None, filename: str) -> Path | None: ...


@dataclass(frozen=True, kw_only=True)
class ResolverSettings:
    """What every resolution of a run is handed besides the requirements and the target."""

    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    force_build: frozenset[str] = frozenset()
    #: The ``UV_*`` environment variables, sorted (their values only enter the key's hash).
    environment: tuple[tuple[str, str], ...] = ()
    #: Who answers, e.g. ``uv 0.13.9; wheelhouse 0.1.0``: another resolver may answer otherwise.
    resolver: str = ""

    @classmethod
    def of(
        cls,
        *,
        index_url: str | None,
        extra_index_urls: Sequence[str],
        force_build: frozenset[str],
        environ: Mapping[str, str],
        resolver: str,
    ) -> ResolverSettings:
        return cls(
            index_url=index_url,
            extra_index_urls=tuple(extra_index_urls),
            force_build=force_build,
            environment=tuple(sorted((k, v) for k, v in environ.items() if _is_uv(k))),
            resolver=resolver,
        )

    def key(self, requirements: Sequence[str], target: Target) -> str:
        """sha256 of every input of the resolution of ``requirements`` for ``target``."""
        data = {
            "format": RECORD_FORMAT,
            "requirements": list(requirements),
            "target": target.id,
            "index_url": self.index_url,
            "extra_index_urls": list(self.extra_index_urls),
            "force_build": sorted(self.force_build),
            "environment": [list(item) for item in self.environment],
            "resolver": self.resolver,
        }
        text = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _is_uv(name: str) -> bool:
    return name.startswith(UV_ENV_PREFIX)


def resolver_description(uv_version: str) -> str:
    """``ResolverSettings.resolver``: uv's version, then wheelhouse's and packaging's, and a
    digest of the code that asks uv and picks each file (a checkout's edits count too)."""
    digest = hashlib.sha256()
    for module in (requires, planner, targets, uv):
        digest.update(Path(str(module.__file__)).read_bytes())
    return (
        f"{uv_version}; wheelhouse {__version__} ({digest.hexdigest()[:16]}); "
        f"packaging {packaging.__version__}"
    )


@dataclass(frozen=True, kw_only=True)
class Recorded:
    """A recorded answer: the wheels to download and the sdists to build first (their
    ``system_packages`` left out: they come from the knowledge file of the run)."""

    key: str
    #: Seconds since the epoch.
    resolved_at: float
    wheels: tuple[PackagePlan, ...]
    builds: tuple[PackagePlan, ...]

    @property
    def files(self) -> tuple[PackagePlan, ...]:
        return (*self.wheels, *self.builds)


class ResolutionRecords:
    """``<root>/<key>.json``, each written to a temporary file renamed into place."""

    def __init__(self, root: Path, *, ttl: float, clock: Callable[[], float] = time.time) -> None:
        self.root = root
        self.ttl = ttl
        self.clock = clock

    @classmethod
    def for_cache(
        cls, cache_dir: Path, *, ttl: float, clock: Callable[[], float] = time.time
    ) -> ResolutionRecords:
        return cls(cache_dir / RECORDS_DIR, ttl=ttl, clock=clock)

    def path(self, key: str) -> Path:
        return self.root / f"{key}.json"

    def load(self, key: str) -> Recorded | None:
        """The record of ``key`` while it is younger than the TTL; ``None`` otherwise, and
        for a record that cannot be read or is not of this format."""
        try:
            data = json.loads(self.path(key).read_text("utf-8"))
            recorded = _recorded(data, key)
        except (OSError, ValueError, KeyError, TypeError):
            return None
        age = self.clock() - recorded.resolved_at
        return recorded if 0 <= age < self.ttl else None

    def store(
        self, key: str, resolved: ResolvedWheels, *, target: Target, resolver: str
    ) -> Recorded | None:
        """Record ``resolved``; ``None`` (nothing written) for an answer that is not one to
        reuse (a problem, a file without a sha256) and when the record cannot be written
        (the next run resolves again: a record only saves time)."""
        plans = (*resolved.wheels, *resolved.builds)
        if resolved.problem is not None or not all(_is_exact(p) for p in plans):
            return None
        recorded = Recorded(
            key=key, resolved_at=self.clock(), wheels=resolved.wheels, builds=resolved.builds
        )
        record = {
            "format": RECORD_FORMAT,
            "key": key,
            "resolved_at": recorded.resolved_at,
            # For whoever reads the file; the key is what is checked.
            "requirements": list(resolved.requested),
            "target": target.id,
            "resolver": resolver,
            "wheels": [_plan_json(p) for p in resolved.wheels],
            "builds": [_plan_json(p) for p in resolved.builds],
        }
        try:
            write_atomically(self.path(key), (json.dumps(record, indent=2) + "\n").encode())
        except OSError:
            return None
        return recorded


def _is_exact(plan: PackagePlan) -> bool:
    return plan.file is not None and plan.url is not None and _is_sha256(plan.sha256)


def _is_sha256(value: object) -> bool:
    return isinstance(value, str) and _SHA256.match(value) is not None


_PLAN_FIELDS = ("name", "version", "file", "url", "sha256", "reason")


def _plan_json(plan: PackagePlan) -> dict[str, str | None]:
    return {f: getattr(plan, f) for f in _PLAN_FIELDS}


def _recorded(data: Any, key: str) -> Recorded:
    """A record read back, every field checked (``ValueError``, ``KeyError`` or
    ``TypeError`` when one is wrong)."""
    if not isinstance(data, dict) or data.get("format") != RECORD_FORMAT:
        raise ValueError("not a record of this format")
    if data["key"] != key:
        raise ValueError("the record of another key")
    resolved_at = data["resolved_at"]
    if isinstance(resolved_at, bool) or not isinstance(resolved_at, int | float):
        raise TypeError("resolved_at is not a number")
    return Recorded(
        key=key,
        resolved_at=float(resolved_at),
        wheels=tuple(_plan(item, "download") for item in _list(data["wheels"])),
        builds=tuple(_plan(item, "build") for item in _list(data["builds"])),
    )


def _list(value: object) -> list[object]:
    if not isinstance(value, list):
        raise TypeError("not a list")
    return value


def _plan(item: object, action: str) -> PackagePlan:
    if not isinstance(item, dict) or not all(isinstance(item[f], str) for f in _PLAN_FIELDS):
        raise TypeError("not a recorded file")
    if not _is_sha256(item["sha256"]):
        raise ValueError("not a sha256")
    return PackagePlan(
        name=canonicalize_name(item["name"]),
        version=item["version"],
        action="build" if action == "build" else "download",
        file=item["file"],
        url=item["url"],
        sha256=item["sha256"],
        reason=item["reason"],
    )


class RememberedResolver:
    """A ``Resolve`` that answers from the record while it holds, and records each new
    answer. ``reused`` and ``resolved`` count the answers of each kind. With ``refresh``,
    only what this resolver recorded itself is reused (so each question is asked once)."""

    def __init__(
        self,
        resolve: Resolve,
        *,
        records: ResolutionRecords,
        settings: ResolverSettings,
        files: StoredFiles,
        system_packages: SystemPackagesFor,
        refresh: bool = False,
    ) -> None:
        self._resolve = resolve
        self.records = records
        self.settings = settings
        self.files = files
        self.system_packages = system_packages
        self.refresh = refresh
        #: Keys this resolver recorded (with ``refresh``, the only records it reuses).
        self._recorded: set[str] = set()
        self.reused = 0
        self.resolved = 0

    def __call__(self, requirements: Sequence[str], target: Target) -> ResolvedWheels:
        requested = tuple(requirements)
        key = self.settings.key(requested, target)
        recorded = self.records.load(key)
        if recorded is not None and self._usable(key, recorded):
            self.reused += 1
            return ResolvedWheels(
                requested=requested,
                wheels=recorded.wheels,
                builds=tuple(self._with_system_packages(b, target) for b in recorded.builds),
            )
        resolved = self._resolve(requested, target)
        self.resolved += 1
        stored = self.records.store(key, resolved, target=target, resolver=self.settings.resolver)
        if stored is not None:
            self._recorded.add(key)
        return resolved

    def _usable(self, key: str, recorded: Recorded) -> bool:
        """Recorded by this resolver if it refreshes, and every file in the download store
        (a reused answer needs no network)."""
        if self.refresh and key not in self._recorded:
            return False
        return all(
            p.file is not None and self.files.get(p.sha256, p.file) is not None
            for p in recorded.files
        )

    def _with_system_packages(self, build: PackagePlan, target: Target) -> PackagePlan:
        """What a build installs comes from this run's knowledge file and wheelhouse.yaml."""
        return replace(build, system_packages=self.system_packages(build.name, target))
