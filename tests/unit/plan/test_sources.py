"""Source lines (archive URLs, local archives and folders, editables) made into pins."""

from __future__ import annotations

import hashlib
from pathlib import Path

from packaging.markers import Marker
from packaging.utils import NormalizedName as N
from packaging.version import Version

from orchestrator.model import Location, Pin, ReleaseFile
from orchestrator.plan.gitspec import GitSpec, from_lock, from_requirement
from orchestrator.plan.requirements import SourceKind, SourceLine
from orchestrator.plan.sources import APP_REASON, SourceError, pins_of, prepare
from orchestrator.targets import Target

WHERE = Location(file=Path("/app/requirements.txt"), line=3)
ARM = Target.parse("cp311-manylinux_2_36_aarch64")
X86 = Target.parse("cp311-manylinux_2_36_x86_64")


class FakeHost:
    """The store: every URL 'fetched' to /store/<name>; folders 'built' to a fixed sdist."""

    def __init__(self, sdist: str = "foo-1.2.0.tar.gz", fail: str | None = None) -> None:
        self.sdist_name = sdist
        self.fail = fail
        self.fetched: list[tuple[str, str, str | None]] = []
        self.built: list[Path] = []
        self.epochs: list[int | None] = []
        self.specs: list[GitSpec] = []

    def fetch(self, url: str, filename: str, sha256: str | None) -> tuple[Path, str]:
        if self.fail:
            raise SourceError(self.fail)
        self.fetched.append((url, filename, sha256))
        return Path("/store") / filename, sha256 or hashlib.sha256(url.encode()).hexdigest()

    def sdist(self, folder: Path, *, epoch: int | None = None) -> tuple[Path, str]:
        self.built.append(folder)
        self.epochs.append(epoch)
        return Path("/store") / self.sdist_name, "f" * 64

    def git(self, spec: GitSpec) -> tuple[str, Path, int]:
        self.specs.append(spec)
        return "c" * 40, Path("/cache/git/checkouts") / ("c" * 40), 1_700_000_000


def line(kind: SourceKind, target: str, **extra: object) -> SourceLine:
    return SourceLine(kind=kind, location=WHERE, text=target, target=target, **extra)  # type: ignore[arg-type]


def test_an_archive_url_is_fetched_once_and_planned_with_its_checked_hash() -> None:
    host = FakeHost()
    url = "https://files.example/crcmod-1.7.tar.gz"
    (prepared,) = prepare([line("url", url, hashes=frozenset({"a" * 64}))], host)
    assert host.fetched == [(url, "crcmod-1.7.tar.gz", "a" * 64)]
    assert (prepared.name, prepared.version) == (N("crcmod"), Version("1.7"))
    assert prepared.file == ReleaseFile(
        filename="crcmod-1.7.tar.gz", url=url, sha256="a" * 64, source="url"
    )


def test_a_local_archive_is_stored_and_named_by_its_file_name() -> None:
    host = FakeHost()
    (prepared,) = prepare([line("archive", "/app/vendor/Thing-2.0-py3-none-any.whl")], host)
    assert host.fetched[0][0] == "file:///app/vendor/Thing-2.0-py3-none-any.whl"
    assert prepared.file is not None
    assert (prepared.name, prepared.file.url, prepared.file.source) == (
        N("thing"),
        "file:///store/Thing-2.0-py3-none-any.whl",
        "path",
    )


def test_a_folder_becomes_an_sdist_and_an_editable_one_is_the_app() -> None:
    host = FakeHost()
    folder, app = line("directory", "/app/libs/foo"), line("editable", "/app")
    built, the_app = prepare([folder, app], host)
    assert host.built == [Path("/app/libs/foo")]
    assert (built.name, built.version, built.file and built.file.filename) == (
        N("foo"),
        Version("1.2.0"),
        "foo-1.2.0.tar.gz",
    )
    assert (the_app.name, the_app.app, the_app.file) == (
        N("app"),
        APP_REASON.format(path="/app"),
        None,
    )


def test_an_editable_named_in_force_build_is_built_from_its_folder() -> None:
    host = FakeHost(sdist="myapp-0.3.tar.gz")
    (prepared,) = prepare(
        [line("editable", "/srv/app", name=N("myapp"))], host, force_build=frozenset({"MyApp"})
    )
    assert host.built == [Path("/srv/app")]
    assert (prepared.app, prepared.version) == (None, Version("0.3"))


def test_what_cannot_be_prepared_is_an_error_row_not_a_crash() -> None:
    unnamed = line("url", "https://github.example/org/x/archive/v1.tar.gz")
    wrong = line("url", "https://files.example/other-1.0.tar.gz", name=N("mine"))
    two = line("url", "https://files.example/x-1.0.tar.gz", hashes=frozenset({"a" * 64, "b" * 64}))
    errors = [p.error for p in prepare([unnamed, wrong, two], FakeHost())]
    assert errors == [
        "v1.tar.gz: not a wheel or sdist file name (name-version.tar.gz), so its version is "
        "unknown; point at the release's own archive",
        "the line names mine, but other-1.0.tar.gz is other",
        "2 different sha256 hashes for one file",
    ]
    (gone,) = prepare([line("url", "https://x.example/y-1.0.tar.gz")], FakeHost(fail="HTTP 404"))
    assert (gone.name, gone.error) == (N("y"), "HTTP 404")


def test_pins_follow_markers_and_carry_the_one_file() -> None:
    url = "https://files.example/crcmod-1.7.tar.gz"
    prepared = prepare(
        [line("url", url, marker=Marker("platform_machine == 'aarch64'"))], FakeHost()
    )
    (pin,) = pins_of(prepared, ARM, forced=frozenset({"crcmod"}))
    file = prepared[0].file
    assert file is not None
    assert file.sha256 is not None
    assert pin == Pin(
        name=N("crcmod"),
        version=Version("1.7"),
        hashes=frozenset({file.sha256}),
        location=WHERE,
        files=(file,),
        force_build=True,
    )
    assert pins_of(prepared, X86) == ()


def test_a_git_line_is_fetched_checked_out_and_made_an_sdist_of_that_commit() -> None:
    host = FakeHost(sdist="tool-1.0.tar.gz")
    target = "git+https://user:secret@git.example/org/tool@v1.0#egg=tool&subdirectory=py"
    (prepared,) = prepare([line("git", target, name=N("tool"))], host)
    assert host.specs == [
        GitSpec(url="https://user:secret@git.example/org/tool", rev="v1.0", subdirectory="py")
    ]
    assert host.built == [Path("/cache/git/checkouts") / ("c" * 40) / "py"]
    assert host.epochs == [1_700_000_000]
    assert prepared.file is not None
    assert (prepared.file.source, prepared.file.commit, prepared.file.repository) == (
        "git",
        "c" * 40,
        "https://****@git.example/org/tool",
    )


def test_git_urls_as_pip_and_uv_write_them() -> None:
    assert from_requirement("git+ssh://git@host.example/r.git") == GitSpec(
        url="ssh://git@host.example/r.git"
    )
    assert from_requirement("git+file:///srv/r@" + "a" * 40) == GitSpec(
        url="file:///srv/r", rev="a" * 40
    )
    assert from_lock("https://github.com/aubio/aubio.git?rev=abc&subdirectory=s#" + "d" * 40) == (
        GitSpec(
            url="https://github.com/aubio/aubio.git",
            rev="abc",
            subdirectory="s",
            locked_commit="d" * 40,
        )
    )
