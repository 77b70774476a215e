"""Frozen data that flows between the stages: inputs -> planner -> builder -> wheelhouse.

Nothing here does I/O. The planner turns ``Pin`` + ``ReleaseFile`` into a ``Plan``;
the builder and the collector consume a ``Plan`` and nothing else of the planner.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from packaging.utils import NormalizedName
from packaging.version import Version

from orchestrator.targets import Target

Action = Literal["download", "build", "error", "app"]
#: How a wheel is built: on a machine of its own architecture, cross-compiled, or emulated.
BuildModeName = Literal["native", "cross", "emulate"]


@dataclass(frozen=True, kw_only=True)
class Location:
    """Where an input came from: a file and a line (requirements) or a field path (uv.lock)."""

    file: Path
    line: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        if self.line is not None:
            return f"{self.file}:{self.line}"
        if self.field is not None:
            return f"{self.file}: {self.field}"
        return str(self.file)


@dataclass(frozen=True, kw_only=True)
class ReleaseFile:
    """One file of a release as an index (PEP 691) or a lock file lists it."""

    filename: str
    url: str
    sha256: str | None = None
    requires_python: str | None = None
    #: ``None`` when not yanked; otherwise the reason (possibly empty).
    yanked: str | None = None
    size: int | None = None
    #: PEP 658/714 ``core-metadata``: ``None`` when the index does not advertise the file's
    #: ``<url>.metadata``, else that file's sha256 (``""`` when the index gives none).
    core_metadata: str | None = None
    #: Where it comes from when not an index (``find-links``); ``None`` for the index.
    source: str | None = None
    #: For a ``git`` source: the commit it was made from, and the repository (masked).
    commit: str | None = None
    repository: str | None = None

    @property
    def is_wheel(self) -> bool:
        return self.filename.endswith(".whl")


@dataclass(frozen=True, kw_only=True)
class ProjectPage:
    """What the index knows of one project: every file of every release."""

    name: NormalizedName
    files: tuple[ReleaseFile, ...]


@dataclass(frozen=True, kw_only=True)
class Pin:
    """One distribution the target installs, at one exact version.

    ``files`` is given when the input already lists them (uv.lock); otherwise the
    planner is handed the index's project page. ``unsupported`` carries the reason
    when the input names a source wheelhouse cannot build (a VCS URL, say).
    """

    name: NormalizedName
    version: Version | None
    hashes: frozenset[str] = frozenset()
    location: Location | None = None
    files: tuple[ReleaseFile, ...] | None = None
    unsupported: str | None = None
    force_build: bool = False
    #: The extras asked for (``redis[hiredis]``): their requirements are in the closure too.
    extras: frozenset[str] = frozenset()
    #: The app itself (an editable folder, a workspace member): why it is not built.
    app: str | None = None


@dataclass(frozen=True, kw_only=True)
class RecipeSummary:
    """What ``plan`` shows of a package's wheelhouse.yaml recipe on one target: env
    names only (values may be private), config settings expanded for the target,
    patches by file name and sha256."""

    env: tuple[str, ...] = ()
    config_settings: tuple[tuple[str, str], ...] = ()
    #: (file name, sha256), in the order they are applied.
    patches: tuple[tuple[str, str], ...] = ()
    before_build: str | None = None
    test: str | None = None
    imports: tuple[str, ...] | None = None

    @property
    def builds_differently(self) -> bool:
        return bool(self.env or self.config_settings or self.patches or self.before_build)

    def build_json(self) -> dict[str, Any] | None:
        """What a built wheel's ``manifest.json`` entry records (``None``: nothing that
        changes the build): env names, config settings, patches by sha256, before_build."""
        if not self.builds_differently:
            return None
        return {
            "env": list(self.env),
            "config_settings": dict(self.config_settings),
            "patches": [{"file": f, "sha256": sha} for f, sha in self.patches],
            "before_build": self.before_build,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "env": list(self.env),
            "config_settings": dict(self.config_settings),
            "patches": [{"file": f, "sha256": sha} for f, sha in self.patches],
            "before_build": self.before_build,
            "test": self.test,
            "imports": None if self.imports is None else list(self.imports),
        }


@dataclass(frozen=True, kw_only=True)
class PackagePlan:
    """The decision for one package on one target."""

    name: NormalizedName
    version: str
    action: Action
    file: str | None = None
    url: str | None = None
    sha256: str | None = None
    reason: str = ""
    #: System packages the build needs (filled from the knowledge file for builds).
    system_packages: tuple[str, ...] = ()
    #: How a build will run on its target (``None`` for downloads and errors).
    build_mode: BuildModeName | None = None
    #: A failed cross build (or target check) is built again under QEMU (``auto``).
    qemu_fallback: bool = False
    #: Why ``build_mode`` when it is not the default (``native`` on the build machine's own
    #: architecture, ``cross`` with the QEMU fallback elsewhere); ``None`` for the default.
    build_mode_reason: str | None = None
    #: Where the file comes from when not the index (``find-links``); ``None`` for the index.
    source: str | None = None
    #: For a ``git`` source: the commit the sdist was made from, and the repository URL
    #: (credentials masked).
    commit: str | None = None
    repository: str | None = None
    #: wheelhouse.yaml's ``packages.<name>`` recipe (env, patches, test ...), if any.
    recipe: RecipeSummary | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "action": self.action,
            "file": self.file,
            "url": self.url,
            "sha256": self.sha256,
            "reason": self.reason,
            "system_packages": list(self.system_packages),
            "build_mode": self.build_mode,
            "qemu_fallback": self.qemu_fallback,
            "build_mode_reason": self.build_mode_reason,
            "source": self.source,
            "commit": self.commit,
            "repository": self.repository,
            "recipe": None if self.recipe is None else self.recipe.to_json(),
        }


@dataclass(frozen=True, kw_only=True)
class TargetPlan:
    target: Target
    packages: tuple[PackagePlan, ...]
    #: Why the target could not be planned at all (its packages are then empty); the
    #: other targets of the run are planned and built (exit 3 still says it failed).
    error: str | None = None

    def by_action(self, action: Action) -> tuple[PackagePlan, ...]:
        return tuple(p for p in self.packages if p.action == action)

    @property
    def counts(self) -> dict[Action, int]:
        return {a: len(self.by_action(a)) for a in ("download", "build", "error", "app")}


@dataclass(frozen=True, kw_only=True)
class Plan:
    targets: tuple[TargetPlan, ...]
    warnings: tuple[str, ...] = field(default=())

    @property
    def has_errors(self) -> bool:
        return any(t.error or t.by_action("error") for t in self.targets)

    def to_json(self) -> dict[str, Any]:
        return {
            "targets": [
                {
                    "id": t.target.id,
                    "packages": [p.to_json() for p in t.packages],
                    **({"error": t.error} if t.error else {}),
                }
                for t in self.targets
            ]
        }


Origin = Literal["pypi", "built"]


@dataclass(frozen=True, kw_only=True)
class Artifact:
    """A wheel ready for a target's wheelhouse: downloaded from the index or built."""

    name: NormalizedName
    version: str
    path: Path
    sha256: str
    origin: Origin
    #: For built wheels: what they were built from and in.
    sdist_sha256: str | None = None
    base_image_digest: str | None = None
    build_seconds: float | None = None
    #: True when the built wheel came from wheelhouse's build cache (no build ran).
    cached: bool = False
    #: Where its file came from when not the index (``PackagePlan.source``), and for
    #: ``git`` the commit and the repository (masked).
    source: str | None = None
    commit: str | None = None
    repository: str | None = None
    #: How a built wheel was built: on its own architecture (``native``), cross-compiled on
    #: the build machine and checked on the target (``cross``), or under QEMU (``emulate``).
    build_mode: BuildModeName | None = None
    #: Why a cross build was given up for a QEMU build of this wheel (``None``: it was not).
    fallback_reason: str | None = None
    #: Seconds the target check of a cross-built wheel took (QEMU included).
    check_seconds: float | None = None
    #: For built wheels: the wheelhouse.yaml recipe they were built with (the build cache
    #: key holds it, so a cached wheel was built with the same one).
    recipe: RecipeSummary | None = None
    #: For built wheels: the sonames auditwheel left to the system (the knowledge file's
    #: ``system_libraries``) and the target's packages that ship them, which the runtime
    #: image installs.
    system_libraries: tuple[str, ...] = ()
    runtime_packages: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class BuildFailure:
    name: NormalizedName
    version: str
    reason: str
    log_tail: str = ""
    log_path: Path | None = None
    #: What the log suggests is missing: a sentence, then the wheelhouse.yaml lines that
    #: would add it (``build.hints``); ``None`` when the log shows nothing known.
    hint: str | None = None


@dataclass(frozen=True, kw_only=True)
class TargetBuild:
    """What the builder made for one target: every wheel it needs, and what failed."""

    target: Target
    artifacts: tuple[Artifact, ...]
    failures: tuple[BuildFailure, ...] = ()
    #: Seconds spent in `docker buildx build` (0 when everything came from the cache).
    build_seconds: float = 0.0
