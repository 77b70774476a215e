"""Build cache keys and entries."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from orchestrator.build.cache import META_FILE, BuildCache, BuiltMeta, CacheKeyInputs

INPUTS = CacheKeyInputs(
    sdist_sha256="a" * 64,
    target_id="cp311-manylinux_2_36_aarch64",
    python="python3",
    base_image_digest="sha256:" + "b" * 64,
    toolchain_packages=("gcc", "libc6-dev", "python3-dev"),
    build_requirement_sha256s=("c" * 64, "d" * 64),
    tool_requirements=("pip>23.0.1", "auditwheel>=6"),
    templates_sha256="e" * 64,
)
META = BuiltMeta(
    name="crcmod",
    version="1.7",
    sdist_sha256="a" * 64,
    base_image_digest="sha256:" + "b" * 64,
    build_seconds=12.5,
    built_at="2026-01-02T03:04:05+00:00",
)

CHANGES: dict[str, Any] = {
    "sdist_sha256": "f" * 64,
    "target_id": "cp311-manylinux_2_36_x86_64",
    "python": "python3.11",
    "base_image_digest": "sha256:" + "0" * 64,
    "toolchain_packages": ("gcc", "libc6-dev", "python3-dev", "libffi-dev"),
    "build_requirement_sha256s": ("c" * 64, "1" * 64),
    "tool_requirements": ("pip>23.0.1", "auditwheel>=6.1"),
    "templates_sha256": "2" * 64,
    "build_mode": "cross",
    "cross_image_digest": "sha256:" + "3" * 64,
    "recipe_sha256": "4" * 64,
    "system_libraries": ("libasound.so.2",),
}


def test_every_field_is_covered_by_a_change() -> None:
    assert set(CHANGES) == {f.name for f in dataclasses.fields(CacheKeyInputs)}


@pytest.mark.parametrize("field", sorted(CHANGES))
def test_any_input_change_changes_the_key(field: str) -> None:
    changed = dataclasses.replace(INPUTS, **{field: CHANGES[field]})
    assert changed.key != INPUTS.key


def test_no_recipe_keeps_the_key_it_had_before_recipes() -> None:
    data = json.loads(INPUTS.canonical_json())
    assert "recipe_sha256" not in data


def test_no_system_library_keeps_the_key_it_had_before() -> None:
    data = json.loads(INPUTS.canonical_json())
    assert "system_libraries" not in data


def test_the_key_is_stable_and_ignores_the_order_of_requirement_wheels() -> None:
    again = dataclasses.replace(INPUTS, build_requirement_sha256s=("d" * 64, "c" * 64))
    assert again.key == INPUTS.key
    assert len(INPUTS.key) == 64
    assert json.loads(INPUTS.canonical_json())["key_version"] == 4


def wheel(tmp_path: Path, name: str = "crcmod-1.7-cp311-cp311-manylinux_2_36_aarch64.whl") -> Path:
    path = tmp_path / "export" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"wheel")
    return path


def test_store_then_lookup(tmp_path: Path) -> None:
    cache = BuildCache.for_cache(tmp_path / "cache")
    built = wheel(tmp_path)
    entry = cache.store(INPUTS.key, [built], META, INPUTS)
    assert entry.wheels == (tmp_path / "cache" / "built" / INPUTS.key / built.name,)
    assert entry.meta == dataclasses.replace(META, wheels=(built.name,))
    assert cache.lookup(INPUTS.key) == entry
    record = json.loads((tmp_path / "cache" / "built" / INPUTS.key / META_FILE).read_text())
    assert record["key_inputs"]["target_id"] == INPUTS.target_id
    assert record["built_at"] == META.built_at
    assert [p.name for p in (tmp_path / "cache" / "built").iterdir()] == [INPUTS.key]


def test_an_unknown_key_is_a_miss(tmp_path: Path) -> None:
    assert BuildCache(tmp_path).lookup("0" * 64) is None


def test_an_incomplete_entry_is_a_miss(tmp_path: Path) -> None:
    cache = BuildCache(tmp_path / "built")
    entry = cache.store(INPUTS.key, [wheel(tmp_path)], META, INPUTS)
    entry.wheels[0].unlink()
    assert cache.lookup(INPUTS.key) is None
    (tmp_path / "built" / INPUTS.key / META_FILE).write_text("{not json")
    assert cache.lookup(INPUTS.key) is None


def test_storing_again_replaces_the_entry(tmp_path: Path) -> None:
    cache = BuildCache(tmp_path / "built")
    cache.store(INPUTS.key, [wheel(tmp_path)], META, INPUTS)
    other = wheel(tmp_path, "crcmod-1.7-cp311-cp311-manylinux_2_17_aarch64.whl")
    entry = cache.store(INPUTS.key, [other], META, INPUTS)
    assert [w.name for w in entry.wheels] == [other.name]
    assert sorted(p.name for p in (tmp_path / "built" / INPUTS.key).iterdir()) == [
        other.name,
        META_FILE,
    ]


def test_what_a_backend_asked_for_is_remembered_per_sdist_and_target(tmp_path: Path) -> None:
    cache = BuildCache(tmp_path / "built")
    target = "cp311-manylinux_2_36_aarch64"
    assert cache.learned_requires("a" * 64, target) == ()
    cache.learn_requires("a" * 64, target, ["cmake>=3.15", "ninja"])
    assert cache.learned_requires("a" * 64, target) == ("cmake>=3.15", "ninja")
    assert cache.learned_requires("a" * 64, "cp311-manylinux_2_36_x86_64") == ()
    assert cache.lookup("backend-requires") is None  # never mistaken for a built entry


def test_an_unreadable_memory_of_backend_requirements_is_none(tmp_path: Path) -> None:
    cache = BuildCache(tmp_path)
    (tmp_path / "backend-requires").mkdir()
    (tmp_path / "backend-requires" / f"{'a' * 64}-t.json").write_text("{not json")
    assert cache.learned_requires("a" * 64, "t") == ()
