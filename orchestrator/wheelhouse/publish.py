"""``wheelhouse publish``: each target's wheelhouse as an image, one multi-platform tag.

Each target's published folder (wheels, ``simple/``, ``manifest.json``,
``requirements.txt``) becomes ``/wheels`` of an image ``FROM scratch`` for the target's
platform, pushed as ``REPO:TAG-<target id>``; once every one of them is in the registry,
``REPO:TAG`` is pointed at one index of them all. A failure before that leaves ``REPO:TAG``
as it was: never half of a night's targets under it.

Targets that would share a platform in one index (same architecture, another libc or
Python) cannot: each group of targets with the same ``cpXY-<libc>`` gets its own tag
``REPO:TAG-cpXY-<libc>`` when there are several groups, and ``REPO:TAG`` when there is one.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from orchestrator.build.engine import PushRequest
from orchestrator.errors import BadInputError
from orchestrator.targets import Target
from orchestrator.wheelhouse.runtime import WHEELS

Say = Callable[[str], None]
LABEL_PREFIX = "io.github.wheelhouse"
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
#: The distribution reference grammar: an optional registry host, then path components.
_HOST = re.compile(r"[A-Za-z0-9.-]+(:[0-9]+)?|\[[0-9A-Fa-f:]+\](:[0-9]+)?")
_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_DOCKERFILE = f"FROM scratch\nCOPY . {WHEELS}/\n"


class Registry(Protocol):
    """What publishing needs of the engine (``DockerEngine``)."""

    def push_image(self, request: PushRequest) -> str: ...

    def create_index(self, tag: str, sources: Sequence[str]) -> None: ...

    def index_platforms(self, ref: str) -> tuple[str, ...]: ...


@dataclass(frozen=True, kw_only=True)
class ImageRef:
    """``registry/repo:tag`` split in two; no digest (a digest cannot be pushed to)."""

    repository: str
    tag: str

    @classmethod
    def parse(cls, text: str) -> ImageRef:
        ref = text.strip()
        if "@" in ref:
            raise BadInputError(
                f"--image {text!r} names a digest: a digest cannot be pushed to",
                hint="pass a tag, e.g. registry.example.com/app/wheels:nightly",
            )
        slash = ref.rfind("/")
        colon = ref.rfind(":")
        repository, tag = (ref[:colon], ref[colon + 1 :]) if colon > slash else (ref, "latest")
        if not _valid_repository(repository) or not _TAG.fullmatch(tag):
            raise BadInputError(
                f"--image {text!r} is not an image reference",
                hint="a reference reads [registry/]repository[:tag] in lower case, e.g. "
                "registry.example.com/app/wheels:nightly (tag: letters, digits, _ . -)",
            )
        return cls(repository=repository, tag=tag)

    def with_suffix(self, suffix: str) -> str:
        tag = f"{self.tag}-{suffix}"
        if len(tag) > 128:
            raise BadInputError(
                f"tag {tag!r} (for {suffix}) is longer than a registry allows (128)",
                hint="use a shorter tag in --image",
            )
        return f"{self.repository}:{tag}"

    def __str__(self) -> str:
        return f"{self.repository}:{self.tag}"


def _valid_repository(repository: str) -> bool:
    parts = repository.split("/")
    first = parts[0]
    if len(parts) > 1 and (first == "localhost" or "." in first or ":" in first):
        if not _HOST.fullmatch(first):
            return False
        parts = parts[1:]
    return all(_COMPONENT.fullmatch(p) for p in parts)


@dataclass(frozen=True, kw_only=True)
class PublishGroup:
    """Targets published under one multi-platform tag."""

    tag: str
    targets: tuple[Target, ...]


@dataclass(frozen=True, kw_only=True)
class PublishedTag:
    tag: str
    #: target id -> the digest of its platform's image, pushed as ``<tag>-<target id>``.
    digests: Mapping[str, str]
    platforms: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"tag": self.tag, "targets": dict(self.digests), "platforms": list(self.platforms)}


def group_targets(ref: ImageRef, targets: Sequence[Target]) -> tuple[PublishGroup, ...]:
    """One group per ``cpXY-<libc>``, each with one target per architecture."""
    groups: dict[str, list[Target]] = {}
    for target in sorted(targets):
        groups.setdefault(f"{target.interpreter}-{target.libc}", []).append(target)
    for members in groups.values():
        _one_per_arch(members)
    single = len(groups) == 1
    return tuple(
        PublishGroup(tag=str(ref) if single else ref.with_suffix(key), targets=tuple(members))
        for key, members in groups.items()
    )


def _one_per_arch(members: Sequence[Target]) -> None:
    seen: dict[str, Target] = {}
    for target in members:
        other = seen.setdefault(target.arch.docker_platform, target)
        if other is not target:
            raise BadInputError(
                f"targets {other.id} and {target.id} would share the platform "
                f"{target.arch.docker_platform} of one image tag",
                hint="publish them one at a time with --target and a tag each",
            )


def check_wheelhouses(output: Path, targets: Sequence[Target]) -> dict[Target, Path]:
    """Each target's built wheelhouse; every missing one is named before anything is pushed."""
    found = {t: output / t.id for t in targets}
    missing = [t.id for t, path in found.items() if not (path / "manifest.json").is_file()]
    if missing:
        raise BadInputError(
            f"no built wheelhouse for {', '.join(missing)} under {output}/",
            hint="build it first (`wheelhouse build --target ID`), or leave the target out "
            "with --target/--arch",
        )
    return found


def publish_wheelhouses(
    ref: ImageRef,
    wheelhouses: Mapping[Target, Path],
    requirements: Path,
    registry: Registry,
    say: Say,
    *,
    now: datetime | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[PublishedTag, ...]:
    """Push every target's image, then point each group's tag at them; see the module doc.

    ``say`` gets a line before and after each push (they take a while: the wheels are
    uploaded) and one per tag with the platforms the registry lists for it."""
    groups = group_targets(ref, list(wheelhouses))
    for target in wheelhouses:
        ref.with_suffix(target.id)  # every tag fits before the first push
    labels = _common_labels(wheelhouses, requirements, now or datetime.now(UTC))
    pushed: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory(prefix="wheelhouse-publish-") as work:
        dockerfile = Path(work) / "Dockerfile"
        dockerfile.write_text(_DOCKERFILE)
        for group in groups:
            pushed[group.tag] = {
                t.id: _push_one(
                    ref,
                    t,
                    wheelhouse=wheelhouses[t],
                    dockerfile=dockerfile,
                    labels=labels,
                    registry=registry,
                    say=say,
                    clock=clock,
                )
                for t in group.targets
            }
    return tuple(_tag_group(ref, g, pushed[g.tag], registry, say) for g in groups)


def _push_one(
    ref: ImageRef,
    target: Target,
    *,
    wheelhouse: Path,
    dockerfile: Path,
    labels: Mapping[str, str],
    registry: Registry,
    say: Say,
    clock: Callable[[], float],
) -> str:
    tag = ref.with_suffix(target.id)
    files = [p for p in wheelhouse.resolve().rglob("*") if p.is_file()]
    wheels = sum(1 for p in files if p.suffix == ".whl")
    size = sum(p.stat().st_size for p in files) / 1e6
    say(
        f"[{target.id}] pushing {wheels} wheels ({size:.1f} MB) from {wheelhouse}/ "
        f"as {tag} ({target.arch.docker_platform})"
    )
    start = clock()
    digest = registry.push_image(
        PushRequest(
            # The stable path is a symlink to the versioned folder: the context is the folder.
            context=wheelhouse.resolve(),
            dockerfile=dockerfile,
            platform=target.arch.docker_platform,
            ref=tag,
            labels={
                **labels,
                f"{LABEL_PREFIX}.target": target.id,
                "org.opencontainers.image.title": f"wheelhouse {target.id}",
            },
            metadata_file=dockerfile.with_name(f"{target.id}.json"),
        )
    )
    say(f"[{target.id}] pushed {tag}@{digest} in {clock() - start:.1f} s")
    return digest


def _tag_group(
    ref: ImageRef, group: PublishGroup, digests: Mapping[str, str], registry: Registry, say: Say
) -> PublishedTag:
    registry.create_index(group.tag, [f"{ref.repository}@{d}" for d in digests.values()])
    platforms = registry.index_platforms(group.tag)
    say(f"{group.tag}: {', '.join(platforms)}")
    return PublishedTag(tag=group.tag, digests=dict(digests), platforms=platforms)


def _common_labels(
    wheelhouses: Mapping[Target, Path], requirements: Path, now: datetime
) -> dict[str, str]:
    """Provenance every platform's image carries (OCI keys where OCI has one)."""
    return {
        "org.opencontainers.image.created": now.astimezone(UTC).isoformat(timespec="seconds"),
        "org.opencontainers.image.description": "wheelhouse: prebuilt wheels under "
        f"{WHEELS} (pip install --no-index --find-links {WHEELS} "
        f"-r {WHEELS}/requirements.txt)",
        f"{LABEL_PREFIX}.requirements.sha256": hashlib.sha256(
            requirements.read_bytes()
        ).hexdigest(),
        f"{LABEL_PREFIX}.requirements.file": requirements.name,
        f"{LABEL_PREFIX}.targets": ",".join(sorted(t.id for t in wheelhouses)),
        f"{LABEL_PREFIX}.built": ",".join(
            f"{t.id}={_manifest_created(p)}" for t, p in sorted(wheelhouses.items())
        ),
    }


def _manifest_created(wheelhouse: Path) -> str:
    try:
        return str(json.loads((wheelhouse / "manifest.json").read_text())["created"])
    except (OSError, ValueError, KeyError):
        return "unknown"
