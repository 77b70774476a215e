"""--check-reproducible: the rebuild's inputs (an empty cache, the same modes) and the
comparison that names the first differing member."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

from packaging.utils import canonicalize_name

from orchestrator.build.cache import LEARNED_DIR, BuildCache
from orchestrator.build.reproduce import check_reproducible, first_difference
from orchestrator.model import Artifact, BuildFailure, PackagePlan, TargetBuild, TargetPlan
from orchestrator.plan.modes import BuildModes
from orchestrator.targets import Arch, Target

TARGET = Target.parse("cp311-manylinux_2_36_aarch64")
WHEEL = "demo-1.0-cp311-cp311-manylinux_2_36_aarch64.whl"


def zipped(
    path: Path, members: dict[str, bytes], when: tuple[int, ...] = (2020, 1, 1, 0, 0, 0)
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as out:
        for name, data in members.items():
            out.writestr(zipfile.ZipInfo(name, when), data)  # type: ignore[arg-type]
    return path


def test_identical_files_have_no_difference(tmp_path: Path) -> None:
    one = zipped(tmp_path / "a" / WHEEL, {"demo/x.py": b"1"})
    two = zipped(tmp_path / "b" / WHEEL, {"demo/x.py": b"1"})
    assert first_difference(one, two) is None


def test_the_first_differing_member_is_named(tmp_path: Path) -> None:
    members = {"demo/a.py": b"same", "demo/_t.py": b"T = 1", "demo/z.py": b"1"}
    one = zipped(tmp_path / "a" / WHEEL, members)
    two = zipped(tmp_path / "b" / WHEEL, {**members, "demo/_t.py": b"T = 2", "demo/z.py": b"2"})
    assert first_difference(one, two) == "member demo/_t.py differs"


def test_a_member_in_one_wheel_only_is_named(tmp_path: Path) -> None:
    one = zipped(tmp_path / "a" / WHEEL, {"demo/a.py": b""})
    two = zipped(tmp_path / "b" / WHEEL, {"demo/a.py": b"", "demo/b.py": b""})
    assert first_difference(one, two) == "member demo/b.py is in only one of them"


def test_the_same_bytes_at_another_time_are_said(tmp_path: Path) -> None:
    one = zipped(tmp_path / "a" / WHEEL, {"demo/a.py": b"x"})
    two = zipped(tmp_path / "b" / WHEEL, {"demo/a.py": b"x"}, when=(2021, 1, 1, 0, 0, 0))
    assert (
        first_difference(one, two) == "member demo/a.py: the same bytes with another time or mode"
    )


def test_files_that_are_not_wheels_are_said(tmp_path: Path) -> None:
    (tmp_path / "a.whl").write_bytes(b"one")
    (tmp_path / "b.whl").write_bytes(b"two")
    found = first_difference(tmp_path / "a.whl", tmp_path / "b.whl")
    assert found is not None
    assert found.startswith("the files differ and cannot be compared as wheels")


# --- check_reproducible with a fake second build -------------------------------------------------


def artifact(path: Path, name: str = "demo", **extra: object) -> Artifact:
    return Artifact(
        name=canonicalize_name(name),
        version="1.0",
        path=path,
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        **extra,  # type: ignore[arg-type]
    )


PLAN = TargetPlan(
    target=TARGET,
    packages=(
        PackagePlan(name=canonicalize_name("demo"), version="1.0", action="build"),
        PackagePlan(name=canonicalize_name("six"), version="1.16.0", action="download"),
        PackagePlan(name=canonicalize_name("other"), version="2.0", action="build"),
    ),
)


class FakeRebuild:
    """Writes ``demo``'s wheel with ``body``; records what it was handed."""

    def __init__(self, tmp: Path, body: bytes, *, fail: bool = False) -> None:
        self.tmp, self.body, self.fail = tmp, body, fail
        self.calls: list[tuple[TargetPlan, Path, BuildModes, list[str]]] = []

    def __call__(
        self, plan: TargetPlan, cache: BuildCache, workdir: Path, modes: BuildModes
    ) -> TargetBuild:
        learned = sorted(p.name for p in (cache.root / LEARNED_DIR).glob("*"))
        self.calls.append((plan, cache.root, modes, learned))
        if self.fail:
            failure = BuildFailure(name=canonicalize_name("demo"), version="1.0", reason="gcc died")
            return TargetBuild(target=TARGET, artifacts=(), failures=(failure,))
        wheel = zipped(workdir / WHEEL, {"demo/_t.py": self.body})
        return TargetBuild(target=TARGET, artifacts=(artifact(wheel, origin="built"),))


def first_build(tmp_path: Path) -> TargetBuild:
    wheel = zipped(tmp_path / "cache" / WHEEL, {"demo/_t.py": b"T = 1"})
    six = zipped(tmp_path / "files" / "six-1.16.0-py3-none-any.whl", {"six.py": b""})
    built = artifact(wheel, origin="built", cached=True, build_mode="cross")
    return TargetBuild(target=TARGET, artifacts=(built, artifact(six, "six", origin="pypi")))


def run_check(tmp_path: Path, rebuild: FakeRebuild) -> list[dict[str, object]]:
    cache = BuildCache(tmp_path / "built")
    cache.learn_requires("ab" * 32, TARGET.id, ["cmake"])
    found = check_reproducible(
        PLAN,
        first_build(tmp_path),
        rebuild,
        modes=BuildModes(build_arch=Arch.X86_64),
        cache=cache,
        scratch=tmp_path / "work",
        keep=tmp_path / "kept",
    )
    return [r.to_json() for r in found]


def test_each_built_package_is_built_again_alone_in_an_empty_cache_the_same_way(
    tmp_path: Path,
) -> None:
    rebuild = FakeRebuild(tmp_path, b"T = 1")
    assert run_check(tmp_path, rebuild) == [
        {
            "name": "demo",
            "version": "1.0",
            "wheels": [WHEEL],
            "identical": True,
            "difference": None,
            "kept": [],
        }
    ]
    ((plan, root, modes, learned),) = rebuild.calls
    assert [p.name for p in plan.packages] == ["demo"]
    assert root != tmp_path / "built"
    assert learned == [f"{'ab' * 32}-{TARGET.id}.json"]
    assert dict(modes.packages) == {"demo": "cross"}
    assert modes.build_arch == Arch.X86_64
    assert not root.exists(), "the temporary cache is removed"
    assert json.loads(
        (tmp_path / "built" / LEARNED_DIR / f"{'ab' * 32}-{TARGET.id}.json").read_text()
    )


def test_a_difference_names_the_member_and_keeps_the_second_wheel(tmp_path: Path) -> None:
    (found,) = run_check(tmp_path, FakeRebuild(tmp_path, b"T = 2"))
    assert found["identical"] is False
    assert found["difference"] == f"{WHEEL}: member demo/_t.py differs"
    assert found["kept"] == [str(tmp_path / "kept" / WHEEL)]
    with zipfile.ZipFile(tmp_path / "kept" / WHEEL) as kept:
        assert kept.read("demo/_t.py") == b"T = 2"


def test_a_failed_second_build_is_a_difference(tmp_path: Path) -> None:
    (found,) = run_check(tmp_path, FakeRebuild(tmp_path, b"", fail=True))
    assert found["difference"] == "the second build failed: gcc died"


def test_nothing_built_nothing_rebuilt(tmp_path: Path) -> None:
    rebuild = FakeRebuild(tmp_path, b"")
    six = zipped(tmp_path / "six-1.16.0-py3-none-any.whl", {"six.py": b""})
    first = TargetBuild(target=TARGET, artifacts=(artifact(six, "six", origin="pypi"),))
    cache = BuildCache(tmp_path / "built")
    found = check_reproducible(
        PLAN, first, rebuild, modes=BuildModes(), cache=cache, scratch=tmp_path, keep=tmp_path
    )
    assert found == ()
    assert rebuild.calls == []
