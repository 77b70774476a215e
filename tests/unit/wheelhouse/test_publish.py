"""wheelhouse publish: references, grouping, the order of pushes and tags (fake registry)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from orchestrator.build.engine import PushRequest
from orchestrator.errors import BadInputError, RegistryError
from orchestrator.targets import Target
from orchestrator.wheelhouse.publish import (
    ImageRef,
    check_wheelhouses,
    group_targets,
    publish_wheelhouses,
)

ARM = Target.parse("cp311-manylinux_2_36_aarch64")
AMD = Target.parse("cp311-manylinux_2_36_x86_64")
MUSL_ARM = Target.parse("cp312-musllinux_1_2_aarch64")
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


class FakeRegistry:
    """Records what would reach the registry; ``fail_on`` makes that push refused."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.fail_on = fail_on
        self.pushed: list[PushRequest] = []
        self.contexts: list[list[str]] = []
        self.dockerfiles: list[str] = []
        self.indexes: list[tuple[str, tuple[str, ...]]] = []

    def push_image(self, request: PushRequest) -> str:
        if request.ref == self.fail_on:
            raise RegistryError(f"the registry refused to let this machine push {request.ref}")
        self.pushed.append(request)
        self.contexts.append(sorted(p.name for p in request.context.iterdir()))
        self.dockerfiles.append(request.dockerfile.read_text())
        return "sha256:" + f"{len(self.pushed)}" * 64

    def create_index(self, tag: str, sources: Sequence[str]) -> None:
        self.indexes.append((tag, tuple(sources)))

    def index_platforms(self, ref: str) -> tuple[str, ...]:
        _tag, sources = next(i for i in self.indexes if i[0] == ref)
        platforms = {f"sha256:{str(n + 1) * 64}": r.platform for n, r in enumerate(self.pushed)}
        return tuple(platforms[s.split("@")[1]] for s in sources)


def wheelhouse(root: Path, target: Target) -> Path:
    """A built wheelhouse as collect leaves it: a symlink to a versioned folder."""
    real = root / f".{target.id}-stamp"
    (real / "simple").mkdir(parents=True)
    (real / "six-1.17.0-py2.py3-none-any.whl").write_bytes(b"wheel")
    (real / "requirements.txt").write_text("six==1.17.0 --hash=sha256:00\n")
    manifest = {"format": 1, "target": target.id, "created": "2026-12-03T11:00:00Z"}
    (real / "manifest.json").write_text(json.dumps(manifest))
    (root / target.id).symlink_to(real.name)
    return root / target.id


@pytest.fixture
def requirements(tmp_path: Path) -> Path:
    path = tmp_path / "requirements.txt"
    path.write_text("six==1.17.0\n")
    return path


def test_a_reference_is_split_into_repository_and_tag() -> None:
    assert ImageRef.parse("127.0.0.1:5000/app/wheels:nightly") == ImageRef(
        repository="127.0.0.1:5000/app/wheels", tag="nightly"
    )
    assert str(ImageRef.parse("127.0.0.1:5000/app/wheels")) == "127.0.0.1:5000/app/wheels:latest"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("app/wheels@sha256:" + "0" * 64, "names a digest: a digest cannot be pushed to"),
        ("App/Wheels:nightly", "is not an image reference"),
        ("app/wheels:night/ly", "is not an image reference"),
        ("app/wheels:", "is not an image reference"),
    ],
)
def test_bad_references_are_refused_with_an_example(text: str, message: str) -> None:
    with pytest.raises(BadInputError, match=message) as caught:
        ImageRef.parse(text)
    assert caught.value.hint is not None and "registry.example.com/app/wheels:nightly" in (
        caught.value.hint
    )


def test_targets_of_one_python_and_libc_share_the_tag() -> None:
    (group,) = group_targets(ImageRef.parse("r/app:n"), [ARM, AMD])
    assert (group.tag, group.targets) == ("r/app:n", (ARM, AMD))


def test_each_python_and_libc_gets_a_tag_of_its_own_when_there_are_several() -> None:
    groups = group_targets(ImageRef.parse("r/app:n"), [MUSL_ARM, ARM, AMD])
    assert [(g.tag, g.targets) for g in groups] == [
        ("r/app:n-cp311-manylinux", (ARM, AMD)),
        ("r/app:n-cp312-musllinux", (MUSL_ARM,)),
    ]


def test_two_targets_on_one_platform_of_one_tag_are_refused() -> None:
    other = Target.parse("cp311-manylinux_2_28_aarch64")
    with pytest.raises(BadInputError, match="would share the platform linux/arm64"):
        group_targets(ImageRef.parse("r/app:n"), [ARM, other])


def test_every_missing_wheelhouse_is_named_before_anything_is_pushed(tmp_path: Path) -> None:
    wheelhouse(tmp_path, ARM)
    with pytest.raises(BadInputError) as caught:
        check_wheelhouses(tmp_path, [ARM, AMD, MUSL_ARM])
    assert caught.value.message == (
        f"no built wheelhouse for {AMD.id}, {MUSL_ARM.id} under {tmp_path}/"
    )
    assert "wheelhouse build" in (caught.value.hint or "")


def test_each_target_is_pushed_then_the_tag_points_at_all_of_them(
    tmp_path: Path, requirements: Path
) -> None:
    found = {t: wheelhouse(tmp_path, t) for t in (ARM, AMD)}
    registry = FakeRegistry()
    said: list[str] = []
    ref = ImageRef.parse("127.0.0.1:5000/app/wheels:nightly")
    (tag,) = publish_wheelhouses(ref, found, requirements, registry, said.append, now=NOW)

    assert [(r.ref, r.platform) for r in registry.pushed] == [
        (f"127.0.0.1:5000/app/wheels:nightly-{ARM.id}", "linux/arm64"),
        (f"127.0.0.1:5000/app/wheels:nightly-{AMD.id}", "linux/amd64"),
    ]
    # The folder itself (not the symlink) is the context: wheels, simple/ and the files.
    assert registry.contexts[0] == [
        "manifest.json",
        "requirements.txt",
        "simple",
        "six-1.17.0-py2.py3-none-any.whl",
    ]
    assert registry.dockerfiles[0] == "FROM scratch\nCOPY . /wheels/\n"
    assert registry.indexes == [
        (
            "127.0.0.1:5000/app/wheels:nightly",
            (
                "127.0.0.1:5000/app/wheels@sha256:" + "1" * 64,
                "127.0.0.1:5000/app/wheels@sha256:" + "2" * 64,
            ),
        )
    ]
    assert tag.to_json() == {
        "tag": "127.0.0.1:5000/app/wheels:nightly",
        "targets": {ARM.id: "sha256:" + "1" * 64, AMD.id: "sha256:" + "2" * 64},
        "platforms": ["linux/arm64", "linux/amd64"],
    }
    assert said[0].startswith(f"[{ARM.id}] pushing 1 wheels (0.0 MB) from ")
    assert said[-1] == "127.0.0.1:5000/app/wheels:nightly: linux/arm64, linux/amd64"


def test_the_labels_carry_provenance(tmp_path: Path, requirements: Path) -> None:
    registry = FakeRegistry()
    found = {ARM: wheelhouse(tmp_path, ARM)}
    publish_wheelhouses(ImageRef.parse("r/app:n"), found, requirements, registry, print, now=NOW)
    labels = registry.pushed[0].labels
    assert labels["org.opencontainers.image.created"] == "2026-12-03T12:00:00+00:00"
    assert labels["io.github.wheelhouse.requirements.sha256"] == (
        hashlib.sha256(b"six==1.17.0\n").hexdigest()
    )
    assert labels["io.github.wheelhouse.targets"] == ARM.id
    assert labels["io.github.wheelhouse.target"] == ARM.id
    assert labels["io.github.wheelhouse.built"] == f"{ARM.id}=2026-12-03T11:00:00Z"


def test_a_refused_push_leaves_the_tag_untouched(tmp_path: Path, requirements: Path) -> None:
    found = {t: wheelhouse(tmp_path, t) for t in (ARM, AMD)}
    registry = FakeRegistry(fail_on=f"r/app:n-{AMD.id}")
    with pytest.raises(RegistryError, match="refused"):
        publish_wheelhouses(ImageRef.parse("r/app:n"), found, requirements, registry, print)
    assert [r.ref for r in registry.pushed] == [f"r/app:n-{ARM.id}"]
    assert registry.indexes == []


def test_a_tag_too_long_for_a_registry_is_refused_before_any_push(
    tmp_path: Path, requirements: Path
) -> None:
    registry = FakeRegistry()
    ref = ImageRef.parse("r/app:" + "n" * 110)
    with pytest.raises(BadInputError, match="longer than a registry allows"):
        publish_wheelhouses(ref, {ARM: wheelhouse(tmp_path, ARM)}, requirements, registry, print)
    assert registry.pushed == []
