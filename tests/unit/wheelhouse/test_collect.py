"""collect_wheelhouse: layout, PEP 503 index, manifest, requirements, and the atomic swap."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import socket
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import pytest
from packaging.utils import canonicalize_name, parse_wheel_filename

from orchestrator.errors import BuildFailedError, DiskFullError
from orchestrator.model import Artifact, BuildFailure, Origin, RecipeSummary, TargetBuild
from orchestrator.targets import Target
from orchestrator.wheelhouse import collect
from orchestrator.wheelhouse.collect import collect_wheelhouse
from tests.wheelfiles import write_wheel

TARGET = Target.parse("cp311-manylinux_2_36_aarch64")
OTHER = Target.parse("cp312-musllinux_1_2_aarch64")
NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def clock() -> datetime:
    return NOW


def make_wheel(
    directory: Path,
    name: str,
    version: str,
    *,
    tag: str = "py3-none-any",
    body: str = "VALUE = 1\n",
) -> Path:
    """A real, installable pure wheel with one module named after the project."""
    module = canonicalize_name(name).replace("-", "_")
    return write_wheel(directory, name, version, {f"{module}/__init__.py": body}, tag=tag)


def artifact(path: Path, origin: Origin = "pypi", **extra: object) -> Artifact:
    name, version, _build, _tags = parse_wheel_filename(path.name)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    return Artifact(
        name=name,
        version=str(version),
        path=path,
        sha256=sha,
        origin=origin,
        **extra,  # type: ignore[arg-type]
    )


def build_of(*artifacts: Artifact, target: Target = TARGET, **extra: object) -> TargetBuild:
    return TargetBuild(target=target, artifacts=artifacts, **extra)  # type: ignore[arg-type]


class Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.anchors: list[tuple[str, str]] = []
        self._href: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href = dict(attrs).get("href") or ""

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self.anchors.append((self._href, data))
            self._href = None


def anchors(page: Path) -> list[tuple[str, str]]:
    parser = Anchors()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser.anchors


def assert_installable(wheelhouse: Path) -> None:
    """What pip checks: every pinned hash is a file here, and the index links resolve to it."""
    lines = [
        line
        for line in (wheelhouse / "requirements.txt").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert lines
    files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in wheelhouse.glob("*.whl")}
    for line in lines:
        pin, *hashes = line.split()
        name, version = pin.split("==")
        digests = {h.removeprefix("--hash=sha256:") for h in hashes}
        matching = [
            f
            for f, sha in files.items()
            if sha in digests
            and parse_wheel_filename(f)[0] == name
            and str(parse_wheel_filename(f)[1]) == version
        ]
        assert matching, f"no wheel for {line}"
    for page in (wheelhouse / "simple").glob("*/index.html"):
        base = page.resolve().as_uri()
        for href, _text in anchors(page):
            url = urljoin(base, href)
            target = Path(unquote(urlsplit(url).path))
            assert target.is_file(), url
            assert hashlib.sha256(target.read_bytes()).hexdigest() == urlsplit(url).fragment[7:]


@pytest.fixture
def wheels(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "wheelhouse"


# --- layout and contents ----------------------------------------------------------------------


def test_layout_is_a_symlink_to_a_complete_versioned_directory(wheels: Path, out: Path) -> None:
    six = artifact(make_wheel(wheels, "six", "1.16.0"))
    built = artifact(make_wheel(wheels, "demo", "2.0"), origin="built")

    result = collect_wheelhouse(build_of(six, built), out, clock=clock)

    link = out / TARGET.id
    assert link.is_symlink()
    assert re.fullmatch(
        r"\.cp311-manylinux_2_36_aarch64-20250102T030405Z-[0-9a-f]{8}", link.readlink().name
    )
    assert sorted(p.name for p in link.iterdir()) == [
        "demo-2.0-py3-none-any.whl",
        "manifest.json",
        "provenance.json",
        "requirements.txt",
        "simple",
        "six-1.16.0-py3-none-any.whl",
    ]
    assert result.path == link
    assert result.real_path == out / link.readlink().name
    assert result.wheels == 2
    assert result.size_bytes == six.path.stat().st_size + built.path.stat().st_size
    assert dict(result.by_origin) == {"pypi": 1, "built": 1}
    assert result.requirements_path.is_file()
    assert_installable(link)


def test_requirements_pin_every_wheel_with_its_hash_sorted(wheels: Path, out: Path) -> None:
    zope = artifact(make_wheel(wheels, "zope.interface", "6.0"))
    six = artifact(make_wheel(wheels, "six", "1.16.0"))
    markup = artifact(make_wheel(wheels, "MarkupSafe", "2.1.5"))

    collect_wheelhouse(build_of(zope, six, markup), out, clock=clock)

    text = (out / TARGET.id / "requirements.txt").read_text()
    assert text.splitlines() == [
        "# wheelhouse cp311-manylinux_2_36_aarch64: every wheel here, pinned and hashed. "
        "Install offline with",
        "# pip install --no-index --find-links <this dir> --require-hashes -r requirements.txt",
        f"markupsafe==2.1.5 --hash=sha256:{markup.sha256}",
        f"six==1.16.0 --hash=sha256:{six.sha256}",
        f"zope-interface==6.0 --hash=sha256:{zope.sha256}",
    ]


def test_two_files_of_one_release_share_one_requirement_line(wheels: Path, out: Path) -> None:
    pure = artifact(make_wheel(wheels, "demo", "1.0"))
    binary = artifact(make_wheel(wheels, "demo", "1.0", tag="cp311-cp311-manylinux_2_17_aarch64"))

    collect_wheelhouse(build_of(pure, binary, pure), out, clock=clock)

    lines = (out / TARGET.id / "requirements.txt").read_text().splitlines()[2:]
    digests = sorted([pure.sha256, binary.sha256])
    assert lines == [f"demo==1.0 --hash=sha256:{digests[0]} --hash=sha256:{digests[1]}"]


def test_pep503_root_page_lists_normalized_projects(wheels: Path, out: Path) -> None:
    collect_wheelhouse(
        build_of(
            artifact(make_wheel(wheels, "Foo.Bar_baz", "1.0")),
            artifact(make_wheel(wheels, "six", "1.16.0")),
        ),
        out,
        clock=clock,
    )

    root = out / TARGET.id / "simple" / "index.html"
    text = root.read_text()
    assert text.startswith("<!DOCTYPE html>")
    assert '<meta name="pypi:repository-version" content="1.0">' in text
    assert anchors(root) == [("foo-bar-baz/", "foo-bar-baz"), ("six/", "six")]


def test_pep503_project_page_links_relative_to_the_wheel_with_its_hash(
    wheels: Path, out: Path
) -> None:
    local = artifact(make_wheel(wheels, "demo", "1.0+local.1"))

    collect_wheelhouse(build_of(local), out, clock=clock)

    page = out / TARGET.id / "simple" / "demo" / "index.html"
    assert anchors(page) == [
        (
            f"../../demo-1.0%2Blocal.1-py3-none-any.whl#sha256={local.sha256}",
            "demo-1.0+local.1-py3-none-any.whl",
        )
    ]
    assert_installable(out / TARGET.id)


def test_manifest_is_the_documented_contract(wheels: Path, out: Path) -> None:
    six = artifact(make_wheel(wheels, "six", "1.16.0"))
    built_path = make_wheel(wheels, "demo", "2.0", tag="cp311-cp311-manylinux_2_36_aarch64")
    os.utime(built_path, (1_700_000_000, 1_700_000_000))
    built = artifact(
        built_path,
        origin="built",
        sdist_sha256="ab" * 32,
        base_image_digest="sha256:" + "cd" * 32,
        build_seconds=63.25,
        build_mode="cross",
        check_seconds=2.5,
        recipe=RecipeSummary(
            env=("CFLAGS",),
            config_settings=(("--build-option", "--python-tag=py311"),),
            patches=(("fix.patch", "ef" * 32),),
            test="demo --version",
        ),
    )
    failure = BuildFailure(name=canonicalize_name("psycopg2"), version="2.9.10", reason="no pg")

    collect_wheelhouse(build_of(six, built, failures=(failure,)), out, clock=clock)

    manifest = json.loads((out / TARGET.id / "manifest.json").read_text())
    assert manifest == {
        "format": 2,
        "target": "cp311-manylinux_2_36_aarch64",
        "wheels": [
            {
                "name": "demo",
                "version": "2.0",
                "file": "demo-2.0-cp311-cp311-manylinux_2_36_aarch64.whl",
                "sha256": built.sha256,
                "origin": "built",
                "sdist_sha256": "ab" * 32,
                "base_image_digest": "sha256:" + "cd" * 32,
                # env names only; the test changes only verify
                "recipe": {
                    "env": ["CFLAGS"],
                    "config_settings": {"--build-option": "--python-tag=py311"},
                    "patches": [{"file": "fix.patch", "sha256": "ef" * 32}],
                    "before_build": None,
                },
            },
            {
                "name": "six",
                "version": "1.16.0",
                "file": "six-1.16.0-py3-none-any.whl",
                "sha256": six.sha256,
                "origin": "pypi",
                "sdist_sha256": None,
                "base_image_digest": None,
            },
        ],
        "missing": [{"name": "psycopg2", "version": "2.9.10", "reason": "no pg"}],
        "system_libraries": [],
        "runtime_packages": [],
    }
    provenance = json.loads((out / TARGET.id / "provenance.json").read_text())
    assert provenance == {
        "format": 1,
        "target": "cp311-manylinux_2_36_aarch64",
        "created": "2025-01-02T03:04:05+00:00",
        "host": socket.gethostname(),
        "wheels": [
            {
                "file": "demo-2.0-cp311-cp311-manylinux_2_36_aarch64.whl",
                "origin": "built",
                "cached": False,
                "build_mode": "cross",
                "build_seconds": 63.25,
                "check_seconds": 2.5,
                "fallback_reason": None,
                "built_at": "2023-11-14T22:13:20+00:00",
            },
            {
                "file": "six-1.16.0-py3-none-any.whl",
                "origin": "pypi",
                "cached": False,
                "build_mode": None,
                "build_seconds": None,
                "check_seconds": None,
                "fallback_reason": None,
                "built_at": None,
            },
        ],
    }


def test_the_same_inputs_give_the_same_bytes_whatever_the_time(wheels: Path, out: Path) -> None:
    """Only provenance.json says when, how long and where: the rest is byte-identical."""
    six = artifact(make_wheel(wheels, "six", "1.16.0"))
    demo = make_wheel(wheels, "demo", "2.0")
    failures = (
        BuildFailure(name=canonicalize_name("zz"), version="1", reason="b"),
        BuildFailure(name=canonicalize_name("aa"), version="1", reason="a"),
    )
    first = artifact(demo, origin="built", build_seconds=1.0, build_mode="emulate")
    collect_wheelhouse(build_of(six, first, failures=failures), out, clock=clock)
    before = {p.relative_to(out / TARGET.id): p.read_bytes() for p in files(out / TARGET.id)}
    os.utime(demo, (1_800_000_000, 1_800_000_000))
    again = artifact(demo, origin="built", build_seconds=9.0, cached=True, build_mode="emulate")
    collect_wheelhouse(build_of(again, six, failures=failures[::-1]), out, clock=later)
    after = {p.relative_to(out / TARGET.id): p.read_bytes() for p in files(out / TARGET.id)}
    changed = sorted(str(p) for p in before if before[p] != after[p])
    assert changed == ["provenance.json"]
    assert before.keys() == after.keys()


def later() -> datetime:
    return datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC)


def files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_failures_are_reported_as_missing(wheels: Path, out: Path) -> None:
    failure = BuildFailure(name=canonicalize_name("psycopg2"), version="2.9.10", reason="x")
    result = collect_wheelhouse(
        build_of(artifact(make_wheel(wheels, "six", "1.16.0")), failures=(failure,)),
        out,
        clock=clock,
    )
    assert result.missing == ("psycopg2",)


def test_an_empty_build_gives_an_empty_but_valid_wheelhouse(out: Path) -> None:
    result = collect_wheelhouse(build_of(), out, clock=clock)

    assert result.wheels == 0
    assert anchors(out / TARGET.id / "simple" / "index.html") == []
    assert json.loads(result.manifest_path.read_text())["wheels"] == []


# --- linking and checking ---------------------------------------------------------------------


def test_wheels_are_hard_linked_from_the_cache(wheels: Path, out: Path) -> None:
    six = artifact(make_wheel(wheels, "six", "1.16.0"))

    collect_wheelhouse(build_of(six), out, clock=clock)

    assert (out / TARGET.id / six.path.name).stat().st_ino == six.path.stat().st_ino


def test_wheels_are_copied_across_file_systems(
    wheels: Path, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    six = artifact(make_wheel(wheels, "six", "1.16.0"))

    def cross_device(src: object, dst: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", cross_device)
    collect_wheelhouse(build_of(six), out, clock=clock)

    copied = out / TARGET.id / six.path.name
    assert copied.stat().st_ino != six.path.stat().st_ino
    assert copied.read_bytes() == six.path.read_bytes()


def test_a_corrupted_cache_file_is_refused_and_the_old_wheelhouse_kept(
    wheels: Path, out: Path
) -> None:
    six = artifact(make_wheel(wheels, "six", "1.16.0"))
    collect_wheelhouse(build_of(six), out, clock=clock)
    before = (out / TARGET.id).readlink()
    demo = artifact(make_wheel(wheels, "demo", "1.0"))
    demo.path.write_bytes(demo.path.read_bytes() + b"garbage")

    with pytest.raises(BuildFailedError) as caught:
        collect_wheelhouse(build_of(six, demo), out, clock=clock)

    assert caught.value.message == (
        f"cp311-manylinux_2_36_aarch64: {demo.path} has sha256 "
        f"{hashlib.sha256(demo.path.read_bytes()).hexdigest()}, expected {demo.sha256}"
    )
    assert caught.value.hint is not None
    assert f"delete {demo.path}" in caught.value.hint
    assert (out / TARGET.id).readlink() == before
    assert_installable(out / TARGET.id)
    assert not [p for p in out.iterdir() if ".tmp-" in p.name]


def test_a_vanished_cache_file_is_refused(wheels: Path, out: Path) -> None:
    six = artifact(make_wheel(wheels, "six", "1.16.0"))
    six.path.unlink()

    with pytest.raises(BuildFailedError, match="is gone"):
        collect_wheelhouse(build_of(six), out, clock=clock)


def test_a_file_that_is_not_the_artifacts_wheel_is_refused(wheels: Path, out: Path) -> None:
    six = artifact(make_wheel(wheels, "six", "1.16.0"))
    wrong = Artifact(
        name=canonicalize_name("demo"),
        version="1.0",
        path=six.path,
        sha256=six.sha256,
        origin="pypi",
    )

    with pytest.raises(BuildFailedError, match=r"six-1\.16\.0-py3-none-any\.whl is not demo 1\.0"):
        collect_wheelhouse(build_of(wrong), out, clock=clock)


def test_two_versions_of_one_project_are_refused(wheels: Path, out: Path) -> None:
    old = artifact(make_wheel(wheels, "six", "1.15.0"))
    new = artifact(make_wheel(wheels, "six", "1.16.0"))

    with pytest.raises(BuildFailedError, match=r"more than one version .*six: 1\.15\.0, 1\.16\.0"):
        collect_wheelhouse(build_of(old, new), out, clock=clock)


# --- replacing a wheelhouse ---------------------------------------------------------------------


def test_a_new_collect_holds_only_the_current_wheels(wheels: Path, out: Path) -> None:
    six = artifact(make_wheel(wheels, "six", "1.16.0"))
    old_demo = artifact(make_wheel(wheels, "demo", "1.0"))
    first = collect_wheelhouse(build_of(six, old_demo), out, clock=clock)
    new_demo = artifact(make_wheel(wheels, "demo", "2.0"))

    second = collect_wheelhouse(build_of(six, new_demo), out, clock=clock)

    assert sorted(p.name for p in (out / TARGET.id).glob("*.whl")) == [
        "demo-2.0-py3-none-any.whl",
        "six-1.16.0-py3-none-any.whl",
    ]
    assert second.removed == ("demo-1.0-py3-none-any.whl",)
    assert not first.real_path.exists()
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [TARGET.id, second.real_path.name, f".{TARGET.id}.lock"]
    )


@pytest.mark.parametrize(
    ("function", "call"),
    [
        pytest.param("rename", 1, id="killed before the new tree gets its versioned name"),
        pytest.param("replace", 1, id="killed before the symlink switches"),
        pytest.param("fsync", 3, id="killed while writing the new tree"),
    ],
)
def test_a_crash_at_any_step_leaves_the_previous_wheelhouse_intact(
    wheels: Path,
    out: Path,
    monkeypatch: pytest.MonkeyPatch,
    function: str,
    call: int,
) -> None:
    six = artifact(make_wheel(wheels, "six", "1.16.0"))
    demo = artifact(make_wheel(wheels, "demo", "1.0"))
    first = collect_wheelhouse(build_of(six, demo), out, clock=clock)
    before = {p.name: p.read_bytes() for p in first.real_path.rglob("*") if p.is_file()}
    _crash_on(monkeypatch, function, call)

    with pytest.raises(KeyboardInterrupt):
        collect_wheelhouse(build_of(six), out, clock=clock)

    monkeypatch.undo()
    link = out / TARGET.id
    assert link.resolve() == first.real_path.resolve()
    assert {p.name: p.read_bytes() for p in link.rglob("*") if p.is_file()} == before
    assert_installable(link)


def test_the_next_run_after_a_crash_cleans_up(
    wheels: Path, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    six = artifact(make_wheel(wheels, "six", "1.16.0"))
    collect_wheelhouse(build_of(six), out, clock=clock)
    _crash_on(monkeypatch, "replace", 1)
    with pytest.raises(KeyboardInterrupt):
        collect_wheelhouse(build_of(six), out, clock=clock)
    monkeypatch.undo()
    leftovers = {p.name for p in out.iterdir()}
    # link, lock, current, staged link: the unpublished new tree is removed on the way out
    # (a SIGKILL would leave it too; the next run removes both)
    assert len(leftovers) == 4

    result = collect_wheelhouse(build_of(six), out, clock=clock)

    assert sorted(p.name for p in out.iterdir()) == sorted(
        [TARGET.id, result.real_path.name, f".{TARGET.id}.lock"]
    )
    assert_installable(out / TARGET.id)


def test_stale_leftovers_of_killed_runs_are_removed_but_nothing_else(
    wheels: Path, out: Path
) -> None:
    out.mkdir()
    stale = [
        f".{TARGET.id}.tmp-0badf00d",
        f".{TARGET.id}.old-0badf00d",
        f".{TARGET.id}-20240101T000000Z-0badf00d",
    ]
    kept = [
        f".{OTHER.id}.tmp-0badf00d",
        f".{OTHER.id}-20240101T000000Z-0badf00d",
        "README.md",
        f".{TARGET.id}-mine",
    ]
    for name in stale + kept:
        (out / name).mkdir()
        (out / name / "file").write_text("x")
    (out / f".{TARGET.id}.link-0badf00d").symlink_to(stale[2])

    collect_wheelhouse(build_of(artifact(make_wheel(wheels, "six", "1.16.0"))), out, clock=clock)

    names = {p.name for p in out.iterdir()}
    assert not names & {*stale, f".{TARGET.id}.link-0badf00d"}
    assert set(kept) <= names


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2-exchange", "two-renames"])
def test_a_plain_directory_from_elsewhere_is_replaced_by_the_symlink(
    wheels: Path, out: Path, monkeypatch: pytest.MonkeyPatch, exchange: bool
) -> None:
    legacy = out / TARGET.id
    legacy.mkdir(parents=True)
    (legacy / "old-0.1-py3-none-any.whl").write_bytes(b"old")
    if not exchange:
        monkeypatch.setattr(collect, "_exchange", lambda a, b: False)

    result = collect_wheelhouse(
        build_of(artifact(make_wheel(wheels, "six", "1.16.0"))), out, clock=clock
    )

    assert legacy.is_symlink()
    assert result.removed == ("old-0.1-py3-none-any.whl",)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [TARGET.id, result.real_path.name, f".{TARGET.id}.lock"]
    )
    assert_installable(legacy)


def test_targets_do_not_disturb_each_other(wheels: Path, out: Path) -> None:
    six = artifact(make_wheel(wheels, "six", "1.16.0"))
    mine = collect_wheelhouse(build_of(six), out, clock=clock)
    theirs = collect_wheelhouse(build_of(six, target=OTHER), out, clock=clock)

    collect_wheelhouse(build_of(six), out, clock=clock)

    assert theirs.real_path.is_dir()
    assert not mine.real_path.exists()
    assert_installable(out / OTHER.id)


def _crash_on(monkeypatch: pytest.MonkeyPatch, function: str, call: int) -> None:
    """Make the ``call``-th ``os.<function>`` die as a killed process would (no cleanup)."""
    real = getattr(os, function)
    calls = 0

    def dying(*args: object, **kwargs: object) -> object:
        nonlocal calls
        calls += 1
        if calls == call:
            raise KeyboardInterrupt(f"killed in os.{function}")
        return real(*args, **kwargs)

    monkeypatch.setattr(os, function, dying)


def test_a_tree_its_check_refuses_is_removed_and_the_old_wheelhouse_kept(
    wheels: Path, out: Path
) -> None:
    six = artifact(make_wheel(wheels, "six", "1.16.0"))
    collect_wheelhouse(build_of(six), out, clock=clock)
    before = (out / TARGET.id).readlink()
    demo = artifact(make_wheel(wheels, "demo", "1.0"))
    checked: list[list[str]] = []

    def refuse(tree: Path) -> bool:
        checked.append(sorted(p.name for p in tree.iterdir()))
        return False

    result = collect_wheelhouse(build_of(six, demo), out, clock=clock, check=refuse)

    assert checked == [
        [
            "demo-1.0-py3-none-any.whl",
            "manifest.json",
            "provenance.json",
            "requirements.txt",
            "simple",
            "six-1.16.0-py3-none-any.whl",
        ]
    ]
    assert result.published is False
    assert (out / TARGET.id).readlink() == before
    assert sorted(p.name for p in out.iterdir() if not p.name.endswith(".lock")) == [
        str(before),
        TARGET.id,
    ]


def test_a_tree_its_check_accepts_is_published(wheels: Path, out: Path) -> None:
    six = artifact(make_wheel(wheels, "six", "1.16.0"))
    result = collect_wheelhouse(build_of(six), out, clock=clock, check=lambda _tree: True)
    assert result.published is True
    assert (out / TARGET.id / "six-1.16.0-py3-none-any.whl").is_file()


@pytest.mark.parametrize("where", ["_write_durably", "_publish"])
def test_a_full_output_disk_keeps_the_previous_wheelhouse_and_no_tree(
    wheels: Path, out: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """The fake beside tests/integration/test_disk_full.py's real tmpfs."""
    six = artifact(make_wheel(wheels, "six", "1.16.0"))
    first = collect_wheelhouse(build_of(six), out, clock=clock)
    before = {p.name: p.read_bytes() for p in first.real_path.rglob("*") if p.is_file()}

    def full(*_args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(collect, where, full)
    demo = artifact(make_wheel(wheels, "demo", "1.0"))
    with pytest.raises(DiskFullError) as info:
        collect_wheelhouse(build_of(six, demo), out, clock=clock)

    assert f"while writing the wheelhouse of {TARGET.id}" in info.value.message
    link = out / TARGET.id
    assert link.resolve() == first.real_path.resolve()
    assert {p.name: p.read_bytes() for p in link.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [TARGET.id, f".{TARGET.id}.lock", first.real_path.name]
    )


def test_the_manifest_lists_what_the_runtime_image_installs_sorted_once(
    wheels: Path, out: Path
) -> None:
    def built(name: str, libraries: tuple[str, ...], packages: tuple[str, ...]) -> Artifact:
        path = make_wheel(wheels, name, "1.0", tag="cp311-cp311-manylinux_2_36_aarch64")
        return artifact(path, origin="built", system_libraries=libraries, runtime_packages=packages)

    alsa = built("pyalsaaudio", ("libasound.so.2",), ("libasound2",))
    other = built("other", ("libz.so.1", "libasound.so.2"), ("zlib1g", "libasound2"))
    six = artifact(make_wheel(wheels, "six", "1.16.0"))

    collect_wheelhouse(build_of(six, alsa, other), out, clock=clock)

    manifest = json.loads((out / TARGET.id / "manifest.json").read_text())
    assert manifest["system_libraries"] == ["libasound.so.2", "libz.so.1"]
    assert manifest["runtime_packages"] == ["libasound2", "zlib1g"]
    entries = {w["name"]: w for w in manifest["wheels"]}
    assert entries["pyalsaaudio"]["system_libraries"] == ["libasound.so.2"]
    assert entries["pyalsaaudio"]["runtime_packages"] == ["libasound2"]
    # A wheel that needs nothing of the system has no such keys.
    assert "runtime_packages" not in entries["six"]
    assert "system_libraries" not in entries["six"]
