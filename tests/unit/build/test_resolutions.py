"""Recorded resolutions of build requirements: hits, a miss on each changed input, corrupt
records, and (with the builder's fakes) that a hit still goes through the build cache's key."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from packaging.utils import NormalizedName

from orchestrator.build.engine import BuildxRequest, BuildxResult, LineCallback
from orchestrator.build.requires import TOOL_REQUIREMENTS, ResolvedWheels
from orchestrator.build.resolutions import (
    RECORD_FORMAT,
    RememberedResolver,
    ResolutionRecords,
    ResolverSettings,
    resolver_description,
)
from orchestrator.config import DEFAULT_RESOLUTION_TTL, TargetConfig, parse_config
from orchestrator.errors import ConfigError
from orchestrator.model import PackagePlan, TargetPlan
from orchestrator.pypi.downloads import FileStore
from orchestrator.pypi.uv import uv_version
from orchestrator.targets import Target
from tests.unit.build.builder_fakes import BuildWorld, plan_file, stage_lines, write_result

ARM = Target.parse("cp311-manylinux_2_36_aarch64")
X86 = Target.parse("cp311-manylinux_2_36_x86_64")
REQUIRES = ("setuptools>=40.8.0", "wheel")
TTL = 3600
T0 = 1_700_000_000.0


def sha(filename: str) -> str:
    """The builder fakes' downloader serves a file's name as its body."""
    return hashlib.sha256(filename.encode()).hexdigest()


def exact(name: str, version: str, filename: str, action: str = "download") -> PackagePlan:
    return replace(
        plan_file(name, version, filename, action),
        sha256=sha(filename),
        reason="" if action == "download" else "no wheel for the target",
    )


SETUPTOOLS = exact("setuptools", "75.0.0", "setuptools-75.0.0-py3-none-any.whl")
WHEEL = exact("wheel", "0.45.1", "wheel-0.45.1-py3-none-any.whl")
CYTHON = exact("cython", "3.0.11", "cython-3.0.11.tar.gz", "build")
ANSWER = ResolvedWheels(requested=REQUIRES, wheels=(SETUPTOOLS, WHEEL))


@dataclass
class Clock:
    now: float = T0

    def __call__(self) -> float:
        return self.now


@dataclass
class Resolver:
    """uv and the index: ``answers`` for those requirements, ``answer`` for any others;
    every call is kept."""

    answer: ResolvedWheels = ANSWER
    answers: dict[tuple[str, ...], ResolvedWheels] = field(default_factory=dict)
    calls: list[tuple[tuple[str, ...], str]] = field(default_factory=list)

    def __call__(self, requirements: Sequence[str], target: Target) -> ResolvedWheels:
        requested = tuple(requirements)
        self.calls.append((requested, target.id))
        return replace(self.answers.get(requested, self.answer), requested=requested)


def system_packages(name: NormalizedName, target: Target) -> tuple[str, ...]:
    return (f"lib{name}-dev:{target.arch.value}",)


SETTINGS = ResolverSettings(
    index_url="https://pypi.org/simple",
    extra_index_urls=("https://extra.example/simple",),
    force_build=frozenset({"cffi"}),
    environment=(("UV_EXCLUDE_NEWER", "2026-01-01"),),
    resolver="uv 0.13.9; wheelhouse 0.1.0",
)


@dataclass
class Memo:
    """A ``RememberedResolver`` over ``resolver``, its records in ``tmp/resolutions`` and its
    download store in ``tmp/files``."""

    tmp: Path
    resolver: Resolver = field(default_factory=Resolver)
    clock: Clock = field(default_factory=Clock)

    @property
    def records(self) -> ResolutionRecords:
        return ResolutionRecords(self.tmp / "resolutions", ttl=TTL, clock=self.clock)

    @property
    def store(self) -> FileStore:
        return FileStore(self.tmp / "files")

    def remembered(
        self, settings: ResolverSettings = SETTINGS, *, refresh: bool = False, ttl: int = TTL
    ) -> RememberedResolver:
        return RememberedResolver(
            self.resolver,
            records=ResolutionRecords(self.tmp / "resolutions", ttl=ttl, clock=self.clock),
            settings=settings,
            files=self.store,
            system_packages=system_packages,
            refresh=refresh,
        )

    def download(self, *plans: PackagePlan) -> None:
        """Put ``plans``' files in the download store, as a run's downloads do."""
        for plan in plans:
            assert plan.file is not None and plan.sha256 is not None
            path = self.store.path_for(plan.sha256, plan.file)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(plan.file.encode())

    def record_path(self, requirements: Sequence[str] = REQUIRES, target: Target = ARM) -> Path:
        return self.records.path(SETTINGS.key(requirements, target))


@pytest.fixture
def memo(tmp_path: Path) -> Memo:
    found = Memo(tmp_path)
    found.download(SETUPTOOLS, WHEEL, CYTHON)
    return found


# --- the record ----------------------------------------------------------------------------------


def test_the_first_answer_is_recorded_and_the_second_comes_from_the_record(memo: Memo) -> None:
    remembered = memo.remembered()
    first = remembered(REQUIRES, ARM)
    memo.clock.now = T0 + TTL - 1
    second = remembered(list(REQUIRES), ARM)
    assert memo.resolver.calls == [(REQUIRES, ARM.id)]
    assert first == ANSWER
    assert second == ANSWER
    assert (remembered.reused, remembered.resolved) == (1, 1)
    assert json.loads(memo.record_path().read_text("utf-8")) == {
        "format": RECORD_FORMAT,
        "key": SETTINGS.key(REQUIRES, ARM),
        "resolved_at": T0,
        "requirements": list(REQUIRES),
        "target": ARM.id,
        "resolver": "uv 0.13.9; wheelhouse 0.1.0",
        "wheels": [
            {
                "name": "setuptools",
                "version": "75.0.0",
                "file": "setuptools-75.0.0-py3-none-any.whl",
                "url": "https://files.example/setuptools-75.0.0-py3-none-any.whl",
                "sha256": sha("setuptools-75.0.0-py3-none-any.whl"),
                "reason": "",
            },
            {
                "name": "wheel",
                "version": "0.45.1",
                "file": "wheel-0.45.1-py3-none-any.whl",
                "url": "https://files.example/wheel-0.45.1-py3-none-any.whl",
                "sha256": sha("wheel-0.45.1-py3-none-any.whl"),
                "reason": "",
            },
        ],
        "builds": [],
    }
    assert sorted(p.name for p in memo.record_path().parent.iterdir()) == [
        memo.record_path().name  # no temporary file left behind
    ]
    assert memo.record_path().stat().st_mode & 0o777 == 0o644


def test_a_recorded_build_takes_its_system_packages_from_this_run(memo: Memo) -> None:
    with_build = ResolvedWheels(requested=REQUIRES, wheels=(SETUPTOOLS,), builds=(CYTHON,))
    memo.resolver.answer = with_build
    memo.remembered()(REQUIRES, ARM)
    again = memo.remembered()(REQUIRES, ARM)
    assert len(memo.resolver.calls) == 1
    assert again == replace(
        with_build, builds=(replace(CYTHON, system_packages=("libcython-dev:aarch64",)),)
    )
    record = json.loads(memo.record_path().read_text("utf-8"))
    assert [b["file"] for b in record["builds"]] == ["cython-3.0.11.tar.gz"]


def _changed(
    requirements: Sequence[str] = REQUIRES,
    target: Target = ARM,
    **settings: Any,
) -> tuple[tuple[str, ...], Target, ResolverSettings]:
    return tuple(requirements), target, replace(SETTINGS, **settings)


@pytest.mark.parametrize(
    ("requirements", "target", "settings"),
    [
        _changed(requirements=("setuptools>=61", "wheel")),
        _changed(requirements=(*REQUIRES, "cython<3")),  # what the backend asked for, learned
        _changed(requirements=tuple(reversed(REQUIRES))),
        _changed(requirements=TOOL_REQUIREMENTS),
        _changed(target=X86),  # the build machine's, for a cross build
        _changed(target=Target.parse("cp312-manylinux_2_36_aarch64")),
        _changed(index_url="https://mirror.example/simple"),
        _changed(extra_index_urls=()),
        _changed(force_build=frozenset({"cffi", "setuptools"})),
        _changed(environment=()),
        _changed(environment=(("UV_EXCLUDE_NEWER", "2026-02-01"),)),
        _changed(environment=(("UV_CONSTRAINT", "c.txt"), ("UV_EXCLUDE_NEWER", "2026-01-01"))),
        _changed(resolver="uv 0.14.0; wheelhouse 0.1.0"),
    ],
    ids=[
        "requirement",
        "learned requirement",
        "order",
        "tools",
        "build machine",
        "python",
        "index url",
        "extra index urls",
        "force_build",
        "uv environment gone",
        "uv environment value",
        "uv constraint",
        "resolver",
    ],
)
def test_any_changed_input_resolves_again(
    memo: Memo, requirements: tuple[str, ...], target: Target, settings: ResolverSettings
) -> None:
    memo.remembered()(REQUIRES, ARM)
    remembered = memo.remembered(settings)
    assert remembered(requirements, target) == replace(ANSWER, requested=requirements)
    assert memo.resolver.calls == [(REQUIRES, ARM.id), (requirements, target.id)]
    assert (remembered.reused, remembered.resolved) == (0, 1)
    # each answer has its own record; the first one is still there for the first inputs
    assert len(list((memo.tmp / "resolutions").glob("*.json"))) == 2
    memo.remembered()(REQUIRES, ARM)
    assert len(memo.resolver.calls) == 2


def test_settings_take_only_uvs_environment() -> None:
    settings = ResolverSettings.of(
        index_url="https://pypi.org/simple",
        extra_index_urls=["https://extra.example/simple"],
        force_build=frozenset({"cffi"}),
        environ={
            "HOME": "/root",
            "PIP_FIND_LINKS": "/opt/wheels",
            "UV_EXCLUDE_NEWER": "2026-01-01",
            "UV_CONSTRAINT": "c.txt",
        },
        resolver="uv 0.13.9; wheelhouse 0.1.0",
    )
    assert settings == replace(
        SETTINGS,
        environment=(("UV_CONSTRAINT", "c.txt"), ("UV_EXCLUDE_NEWER", "2026-01-01")),
    )


def test_the_resolver_names_uv_wheelhouse_packaging_and_the_code() -> None:
    found = resolver_description("uv 0.13.9")
    assert found.startswith("uv 0.13.9; wheelhouse 0.1.0 (")
    assert found == resolver_description("uv 0.13.9")
    assert found.split("; ")[2].startswith("packaging ")


def test_uv_version_asks_uv() -> None:
    asked: list[list[str]] = []

    def run(args: Sequence[str]) -> tuple[int, str]:
        asked.append(list(args))
        return 0, "uv 0.13.9 (x86_64-unknown-linux-gnu)\n"

    assert uv_version(["/venv/bin/uv"], run) == "uv 0.13.9 (x86_64-unknown-linux-gnu)"
    assert asked == [["/venv/bin/uv", "--version"]]
    assert uv_version(["uv"], lambda _args: (127, "")) == "uv (version unknown)"


# --- when the record is not used -----------------------------------------------------------------


def test_a_record_as_old_as_the_ttl_is_resolved_again_and_rewritten(memo: Memo) -> None:
    memo.remembered()(REQUIRES, ARM)
    memo.clock.now = T0 + TTL
    remembered = memo.remembered()
    remembered(REQUIRES, ARM)
    assert len(memo.resolver.calls) == 2
    assert (remembered.reused, remembered.resolved) == (0, 1)
    assert json.loads(memo.record_path().read_text("utf-8"))["resolved_at"] == T0 + TTL


def test_a_ttl_of_zero_never_reuses(memo: Memo) -> None:
    memo.remembered(ttl=0)(REQUIRES, ARM)
    memo.remembered(ttl=0)(REQUIRES, ARM)
    assert len(memo.resolver.calls) == 2


def test_a_record_from_the_future_is_resolved_again(memo: Memo) -> None:
    memo.remembered()(REQUIRES, ARM)
    memo.clock.now = T0 - 1  # the clock went back
    memo.remembered()(REQUIRES, ARM)
    assert len(memo.resolver.calls) == 2


def test_refresh_resolves_again_and_rewrites_the_record(memo: Memo) -> None:
    memo.remembered()(REQUIRES, ARM)
    memo.clock.now = T0 + 5
    newer = replace(SETUPTOOLS, version="76.0.0", file="setuptools-76.0.0-py3-none-any.whl")
    newer = replace(newer, sha256=sha(newer.file or ""))
    memo.resolver.answer = ResolvedWheels(requested=REQUIRES, wheels=(newer, WHEEL))
    memo.download(newer)
    refreshing = memo.remembered(refresh=True)
    assert refreshing(REQUIRES, ARM).wheels == (newer, WHEEL)
    # what the refreshing run recorded itself answers its next question
    assert refreshing(REQUIRES, ARM).wheels == (newer, WHEEL)
    assert (refreshing.reused, refreshing.resolved) == (1, 1)
    memo.clock.now = T0 + 10
    assert memo.remembered()(REQUIRES, ARM).wheels == (newer, WHEEL)
    assert len(memo.resolver.calls) == 2
    assert json.loads(memo.record_path().read_text("utf-8"))["resolved_at"] == T0 + 5


def test_a_recorded_file_missing_from_the_download_store_resolves_again(memo: Memo) -> None:
    memo.remembered()(REQUIRES, ARM)
    assert WHEEL.sha256 is not None and WHEEL.file is not None
    memo.store.path_for(WHEEL.sha256, WHEEL.file).unlink()
    memo.remembered()(REQUIRES, ARM)
    assert len(memo.resolver.calls) == 2


def test_a_problem_is_not_recorded(memo: Memo) -> None:
    memo.resolver.answer = ResolvedWheels(requested=REQUIRES, problem="no wheel for the target")
    assert memo.remembered()(REQUIRES, ARM).problem == "no wheel for the target"
    memo.remembered()(REQUIRES, ARM)
    assert len(memo.resolver.calls) == 2
    assert not (memo.tmp / "resolutions").exists()


def test_a_file_without_a_sha256_is_not_recorded(memo: Memo) -> None:
    unhashed = replace(WHEEL, sha256=None)
    memo.resolver.answer = ResolvedWheels(requested=REQUIRES, wheels=(SETUPTOOLS, unhashed))
    memo.remembered()(REQUIRES, ARM)
    memo.remembered()(REQUIRES, ARM)
    assert len(memo.resolver.calls) == 2
    assert not memo.record_path().exists()


def _good_record(memo: Memo) -> dict[str, Any]:
    memo.remembered()(REQUIRES, ARM)
    record: dict[str, Any] = json.loads(memo.record_path().read_text("utf-8"))
    return record


CORRUPTIONS: dict[str, Callable[[dict[str, Any]], object]] = {
    "format": lambda r: {**r, "format": RECORD_FORMAT + 1},
    "no format": lambda r: {k: v for k, v in r.items() if k != "format"},
    "another key": lambda r: {**r, "key": "0" * 64},
    "time is text": lambda r: {**r, "resolved_at": "yesterday"},
    "time is a bool": lambda r: {**r, "resolved_at": True},
    "wheels not a list": lambda r: {**r, "wheels": {"setuptools": "75.0.0"}},
    "no builds": lambda r: {k: v for k, v in r.items() if k != "builds"},
    "a file without url": lambda r: {
        **r,
        "wheels": [{k: v for k, v in w.items() if k != "url"} for w in r["wheels"]],
    },
    "a bad sha256": lambda r: {**r, "wheels": [{**w, "sha256": "abc"} for w in r["wheels"]]},
    "a number for a name": lambda r: {**r, "wheels": [{**w, "name": 7} for w in r["wheels"]]},
    "a list": lambda r: [r],
}


@pytest.mark.parametrize("corrupt", CORRUPTIONS.values(), ids=CORRUPTIONS.keys())
def test_a_corrupt_record_is_resolved_again_and_replaced(
    memo: Memo, corrupt: Callable[[dict[str, Any]], object]
) -> None:
    good = _good_record(memo)
    memo.record_path().write_text(json.dumps(corrupt(good)), "utf-8")
    assert memo.remembered()(REQUIRES, ARM) == ANSWER
    assert len(memo.resolver.calls) == 2
    assert json.loads(memo.record_path().read_text("utf-8")) == good


@pytest.mark.parametrize("text", [b"", b"{", b"\xff\xfe not utf-8", b'{"format": 1}'])
def test_an_unreadable_record_is_resolved_again(memo: Memo, text: bytes) -> None:
    _good_record(memo)
    memo.record_path().write_bytes(text)
    assert memo.remembered()(REQUIRES, ARM) == ANSWER
    assert len(memo.resolver.calls) == 2


def test_a_record_that_cannot_be_read_or_written_only_costs_a_resolution(memo: Memo) -> None:
    memo.record_path().mkdir(parents=True)
    assert memo.remembered()(REQUIRES, ARM) == ANSWER
    assert memo.remembered()(REQUIRES, ARM) == ANSWER
    assert len(memo.resolver.calls) == 2
    assert sorted(p.name for p in memo.record_path().parent.iterdir()) == [memo.record_path().name]


# --- wheelhouse.yaml ------------------------------------------------------------------------------


def test_the_ttl_comes_from_wheelhouse_yaml(tmp_path: Path) -> None:
    path = tmp_path / "wheelhouse.yaml"
    assert parse_config({}, path).resolution_ttl == DEFAULT_RESOLUTION_TTL == 86400
    assert parse_config({"build": {"resolution_ttl": 0}}, path).resolution_ttl == 0
    with pytest.raises(ConfigError) as raised:
        parse_config({"build": {"resolution_ttl": -1}}, path)
    assert raised.value.message == (
        f"{path}: build.resolution_ttl: expected a whole number of seconds (0 or more), got -1"
    )
    assert raised.value.hint == "e.g. resolution_ttl: 3600"


# --- with the builder: a recorded answer is only the input of the build cache's key ---------------

TCFG = TargetConfig(
    target=ARM,
    base_image="base:arm64",
    runtime_image="base:arm64",
    package_manager="apt",
    build_mode="emulate",
)
CRCMOD_WHEEL = "crcmod-1.7-cp311-cp311-manylinux_2_36_aarch64.whl"
PLAN = TargetPlan(target=ARM, packages=(plan_file("crcmod", "1.7", "crcmod-1.7.tar.gz", "build"),))
TOOLS = ResolvedWheels(
    requested=TOOL_REQUIREMENTS,
    wheels=(
        exact("auditwheel", "6.1.0", "auditwheel-6.1.0-py3-none-any.whl"),
        exact("pip", "24.3.1", "pip-24.3.1-py3-none-any.whl"),
    ),
)


@dataclass
class Engine:
    """Builds crcmod's wheel in every buildx run; ``digest`` is the base image's."""

    digest: str = "sha256:" + "d" * 64
    requests: list[BuildxRequest] = field(default_factory=list)

    def ping(self) -> None:
        return None

    def image_digest(self, image: str, platform: str) -> str:
        return self.digest

    def buildx_build(self, request: BuildxRequest, on_line: LineCallback) -> BuildxResult:
        self.requests.append(request)
        for stage in stage_lines(request, on_line, "sh /wheelhouse/build-wheel.sh"):
            out = request.output_dir / stage.removeprefix("pkg-")
            out.mkdir(parents=True)
            write_result(out, status=0, log="built\n", wheels=[CRCMOD_WHEEL], marker="built")
        return BuildxResult(returncode=0, seconds=1.0, tail=())


@dataclass
class Builds:
    world: BuildWorld[RememberedResolver]
    memo: Memo

    def run(self, engine: Engine) -> list[tuple[str, bool]]:
        self.world.resolve = self.memo.remembered()
        built = self.world.build_target(PLAN, TCFG, engine)
        assert built.failures == ()
        return [(a.name, a.cached) for a in built.artifacts]

    def key_hashes(self) -> list[list[str]]:
        """The build-requirement hashes of every build cache entry's key."""
        metas = sorted((self.world.tmp / "built").glob("*/meta.json"))
        return [json.loads(m.read_text())["key_inputs"]["build_requirement_sha256s"] for m in metas]


@pytest.fixture
def builds(tmp_path: Path, make_sdist: Callable[..., Path]) -> Builds:
    """crcmod (no pyproject.toml: setuptools and wheel) built by the builder's fakes, with
    a ``Memo`` whose download store is the fake downloader's."""
    memo = Memo(tmp_path, resolver=Resolver(answers={TOOL_REQUIREMENTS: TOOLS}))
    files = {"crcmod-1.7.tar.gz": make_sdist("crcmod", "1.7").read_bytes()}
    return Builds(world=BuildWorld.create(tmp_path, files, memo.remembered()), memo=memo)


def test_a_run_with_nothing_changed_resolves_nothing_and_builds_nothing(builds: Builds) -> None:
    assert builds.run(Engine()) == [("crcmod", False)]
    resolved = list(builds.memo.resolver.calls)
    engine = Engine()
    assert builds.run(engine) == [("crcmod", True)]
    assert engine.requests == []
    assert builds.memo.resolver.calls == resolved
    assert builds.key_hashes() == [sorted(s.sha256 or "" for s in (SETUPTOOLS, WHEEL))]


def test_a_reused_answer_still_goes_through_the_build_caches_key(builds: Builds) -> None:
    builds.run(Engine())
    calls = len(builds.memo.resolver.calls)
    # A new base image: the answer is reused, the build cache misses, crcmod is built again.
    engine = Engine(digest="sha256:" + "e" * 64)
    assert builds.run(engine) == [("crcmod", False)]
    assert len(engine.requests) == 1
    assert len(builds.memo.resolver.calls) == calls
    # A record that names other files (in the store, so it is used): another key, a build.
    older = exact("setuptools", "74.0.0", "setuptools-74.0.0-py3-none-any.whl")
    builds.memo.download(older)
    path = builds.memo.record_path()
    record = json.loads(path.read_text("utf-8"))
    record["wheels"][0] = {**record["wheels"][0], "file": older.file, "sha256": older.sha256}
    path.write_text(json.dumps(record), "utf-8")
    engine = Engine(digest="sha256:" + "e" * 64)
    assert builds.run(engine) == [("crcmod", False)]
    assert len(engine.requests) == 1
    assert len(builds.memo.resolver.calls) == calls
    assert sorted(builds.key_hashes()) == sorted(
        [
            sorted(s.sha256 or "" for s in (SETUPTOOLS, WHEEL)),
            sorted(s.sha256 or "" for s in (SETUPTOOLS, WHEEL)),
            sorted(s.sha256 or "" for s in (older, WHEEL)),
        ]
    )
