"""The pure planner: pins + index pages in, one frozen decision per package out."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from orchestrator.model import Location, PackagePlan, Pin, ProjectPage, ReleaseFile
from orchestrator.plan.modes import ModeChoice
from orchestrator.plan.planner import only_releases, plan_target
from orchestrator.targets import Target

MUSL_ARM = Target.parse("cp312-musllinux_1_2_aarch64")
GLIBC_ARM = Target.parse("cp312-manylinux_2_36_aarch64")
REQS = Path("requirements.txt")


def sha(filename: str) -> str:
    """A distinct, stable digest per file name."""
    return hashlib.sha256(filename.encode()).hexdigest()


def rf(
    filename: str,
    *,
    requires_python: str | None = None,
    yanked: str | None = None,
) -> ReleaseFile:
    return ReleaseFile(
        filename=filename,
        url=f"https://files.example/{filename}",
        sha256=sha(filename),
        requires_python=requires_python,
        yanked=yanked,
    )


def page(name: str, *files: ReleaseFile) -> ProjectPage:
    return ProjectPage(name=canonicalize_name(name), files=files)


def pin(
    name: str,
    version: str | None = "1.0",
    *,
    line: int | None = 3,
    hashes: frozenset[str] = frozenset(),
    unsupported: str | None = None,
    force_build: bool = False,
) -> Pin:
    return Pin(
        name=canonicalize_name(name),
        version=Version(version) if version is not None else None,
        hashes=hashes,
        location=Location(file=REQS, line=line) if line is not None else None,
        unsupported=unsupported,
        force_build=force_build,
    )


def plan_one(
    p: Pin,
    pg: ProjectPage | None,
    target: Target = MUSL_ARM,
) -> PackagePlan:
    projects: dict[NormalizedName, ProjectPage | None] = {p.name: pg}
    result = plan_target(target, [p], projects)
    assert result.target == target
    (package,) = result.packages
    return package


def test_musllinux_1_2_beats_1_1() -> None:
    pg = page(
        "demo",
        rf("demo-1.0.tar.gz"),
        rf("demo-1.0-cp312-cp312-musllinux_1_1_aarch64.whl"),
        rf("demo-1.0-cp312-cp312-musllinux_1_2_aarch64.whl"),
        rf("demo-1.0-cp312-cp312-manylinux_2_17_aarch64.manylinux2014_aarch64.whl"),
    )

    result = plan_one(pin("demo"), pg)

    assert result == PackagePlan(
        name=canonicalize_name("demo"),
        version="1.0",
        action="download",
        file="demo-1.0-cp312-cp312-musllinux_1_2_aarch64.whl",
        url="https://files.example/demo-1.0-cp312-cp312-musllinux_1_2_aarch64.whl",
        sha256=sha("demo-1.0-cp312-cp312-musllinux_1_2_aarch64.whl"),
        reason="",
    )


@pytest.mark.parametrize(
    ("files", "best"),
    [
        (
            [
                "demo-1.0-py3-none-any.whl",
                "demo-1.0-cp38-abi3-musllinux_1_1_aarch64.whl",
                "demo-1.0-cp312-cp312-musllinux_1_1_aarch64.whl",
            ],
            "demo-1.0-cp312-cp312-musllinux_1_1_aarch64.whl",
        ),
        (
            ["demo-1.0-py3-none-any.whl", "demo-1.0-cp38-abi3-musllinux_1_1_aarch64.whl"],
            "demo-1.0-cp38-abi3-musllinux_1_1_aarch64.whl",
        ),
        (
            [
                "demo-1.0-py3-none-any.whl",
                "demo-1.0-cp313-cp313-musllinux_1_2_aarch64.whl",
                "demo-1.0-cp312-cp312-musllinux_1_2_x86_64.whl",
            ],
            "demo-1.0-py3-none-any.whl",
        ),
        (
            ["demo-1.0-py2.py3-none-any.whl", "demo-1.0-cp312-none-any.whl"],
            "demo-1.0-cp312-none-any.whl",
        ),
    ],
)
def test_best_ranked_wheel_wins(files: list[str], best: str) -> None:
    pg = page("demo", rf("demo-1.0.tar.gz"), *(rf(f) for f in files))

    result = plan_one(pin("demo"), pg)

    assert (result.action, result.file) == ("download", best)


def test_glibc_target_takes_a_manylinux2014_wheel() -> None:
    filename = "demo-1.0-cp312-cp312-manylinux_2_17_aarch64.manylinux2014_aarch64.whl"
    pg = page("demo", rf("demo-1.0.tar.gz"), rf(filename))

    assert plan_one(pin("demo"), pg, GLIBC_ARM).file == filename
    assert plan_one(pin("demo"), pg, MUSL_ARM).action == "build"


def test_too_new_glibc_wheel_is_not_for_the_target() -> None:
    pg = page(
        "demo",
        rf("demo-1.0.tar.gz"),
        rf("demo-1.0-cp312-cp312-manylinux_2_39_aarch64.whl"),
    )

    result = plan_one(pin("demo"), pg, GLIBC_ARM)

    assert result.action == "build"


def test_sdist_only_builds() -> None:
    pg = page("docopt", rf("docopt-0.6.2.tar.gz"))

    result = plan_one(pin("docopt", "0.6.2"), pg)

    assert result == PackagePlan(
        name=canonicalize_name("docopt"),
        version="0.6.2",
        action="build",
        file="docopt-0.6.2.tar.gz",
        url="https://files.example/docopt-0.6.2.tar.gz",
        sha256=sha("docopt-0.6.2.tar.gz"),
        reason="no musllinux aarch64 wheel for cp312; sdist only",
    )


def test_wheels_for_other_targets_build_and_say_how_many() -> None:
    pg = page(
        "psutil",
        rf("psutil-6.1.1.tar.gz"),
        rf("psutil-6.1.1-cp36-abi3-manylinux_2_17_aarch64.manylinux2014_aarch64.whl"),
        rf("psutil-6.1.1-cp36-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"),
        rf("psutil-6.1.1-cp37-abi3-win_amd64.whl"),
    )

    result = plan_one(pin("psutil", "6.1.1"), pg)

    assert (result.action, result.file) == ("build", "psutil-6.1.1.tar.gz")
    assert result.reason == (
        "no musllinux aarch64 wheel for cp312 (3 wheels for other targets); build from sdist"
    )


def test_build_carries_the_system_packages() -> None:
    pg = page("psycopg2", rf("psycopg2-2.9.10.tar.gz"))
    seen: list[tuple[str, str]] = []

    def system_packages(name: NormalizedName, target: Target) -> tuple[str, ...]:
        seen.append((name, target.id))
        return ("libpq-dev",)

    p = pin("psycopg2", "2.9.10")
    result = plan_target(MUSL_ARM, [p], {p.name: pg}, system_packages=system_packages)

    assert result.packages[0].system_packages == ("libpq-dev",)
    assert seen == [("psycopg2", MUSL_ARM.id)]


def test_downloads_ask_for_no_system_packages() -> None:
    pg = page("demo", rf("demo-1.0-py3-none-any.whl"))

    def system_packages(name: NormalizedName, target: Target) -> tuple[str, ...]:
        raise AssertionError("only builds need system packages")

    p = pin("demo")
    result = plan_target(MUSL_ARM, [p], {p.name: pg}, system_packages=system_packages)

    assert result.packages[0].action == "download"


def plan_with_mode(choice: ModeChoice) -> PackagePlan:
    p = pin("psycopg2", "2.9.10")
    pg = page("psycopg2", rf("psycopg2-2.9.10.tar.gz"))
    result = plan_target(GLIBC_ARM, [p], {p.name: pg}, build_mode=lambda _n, _t: choice)
    (package,) = result.packages
    return package


def test_only_builds_ask_how_they_run() -> None:
    seen: list[tuple[str, str]] = []

    def build_mode(name: NormalizedName, target: Target) -> ModeChoice:
        seen.append((name, target.id))
        return ModeChoice(mode="emulate", reason="--emulate")

    pins = [pin("demo"), pin("docopt", "0.6.2"), pin("missing")]
    projects: dict[NormalizedName, ProjectPage | None] = {
        canonicalize_name("demo"): page("demo", rf("demo-1.0-py3-none-any.whl")),
        canonicalize_name("docopt"): page("docopt", rf("docopt-0.6.2.tar.gz")),
    }

    result = plan_target(GLIBC_ARM, pins, projects, build_mode=build_mode)

    assert seen == [("docopt", GLIBC_ARM.id)]
    modes = [(p.name, p.build_mode, p.qemu_fallback, p.build_mode_reason) for p in result.packages]
    assert modes == [
        ("demo", None, False, None),
        ("docopt", "emulate", False, "--emulate"),
        ("missing", None, False, None),
    ]


def test_without_build_mode_a_build_has_no_mode() -> None:
    result = plan_one(pin("docopt", "0.6.2"), page("docopt", rf("docopt-0.6.2.tar.gz")))

    assert (result.action, result.build_mode, result.build_mode_reason) == ("build", None, None)


def test_the_default_modes_carry_no_reason() -> None:
    auto = ModeChoice(mode="cross", fallback=True, reason="auto: cross first, QEMU if it fails")
    native = ModeChoice(mode="native", reason="the build machine is aarch64")

    cross = plan_with_mode(auto)
    here = plan_with_mode(native)

    assert (cross.build_mode, cross.qemu_fallback, cross.build_mode_reason) == ("cross", True, None)
    assert (here.build_mode, here.qemu_fallback, here.build_mode_reason) == ("native", False, None)


def test_a_forced_mode_says_who_forced_it() -> None:
    emulated = plan_with_mode(
        ModeChoice(mode="emulate", reason="packages.psycopg2.build_mode: emulate")
    )
    crossed = plan_with_mode(ModeChoice(mode="cross", reason="--mode cross"))

    assert emulated.build_mode_reason == "packages.psycopg2.build_mode: emulate"
    assert (crossed.build_mode, crossed.qemu_fallback) == ("cross", False)
    assert crossed.build_mode_reason == "--mode cross: no QEMU fallback"


def test_a_forced_cross_the_target_cannot_do_says_the_build_will_fail() -> None:
    impossible = "--mode cross, but no tested cross toolchain for Alpine (apk) targets"

    result = plan_with_mode(ModeChoice(mode="cross", reason="--mode cross", impossible=impossible))

    assert (result.action, result.build_mode) == ("build", "cross")
    assert result.build_mode_reason == f"{impossible}: the build will fail"


def test_force_build_takes_the_sdist_over_a_wheel() -> None:
    pg = page(
        "cffi",
        rf("cffi-1.17.1-cp312-cp312-musllinux_1_1_aarch64.whl"),
        rf("cffi-1.17.1.tar.gz"),
    )

    result = plan_one(pin("cffi", "1.17.1", force_build=True), pg)

    assert (result.action, result.file) == ("build", "cffi-1.17.1.tar.gz")
    assert result.reason == "forced to build from source (force_build)"


def test_force_build_without_sdist_is_an_error() -> None:
    pg = page("demo", rf("demo-1.0-py3-none-any.whl"))

    result = plan_one(pin("demo", force_build=True), pg)

    assert result == PackagePlan(
        name=canonicalize_name("demo"),
        version="1.0",
        action="error",
        reason="forced to build from source, but the release has no sdist",
    )


def test_no_sdist_and_no_wheel_for_the_target_is_an_error() -> None:
    pg = page("demo", rf("demo-1.0-cp312-cp312-win_amd64.whl"))

    result = plan_one(pin("demo"), pg)

    assert result.action == "error"
    assert result.reason == "no musllinux aarch64 wheel for cp312 and no sdist"
    assert (result.file, result.url, result.sha256) == (None, None, None)


def test_hashes_pick_among_the_files() -> None:
    wheel = rf("demo-1.0-py3-none-any.whl")
    sdist = rf("demo-1.0.tar.gz")
    pg = page("demo", wheel, sdist)

    result = plan_one(pin("demo", hashes=frozenset({sha(sdist.filename)})), pg)

    assert (result.action, result.file) == ("build", "demo-1.0.tar.gz")


def test_hashes_matching_no_file_are_an_error() -> None:
    pg = page("demo", rf("demo-1.0-py3-none-any.whl"), rf("demo-1.0.tar.gz"))

    result = plan_one(pin("demo", hashes=frozenset({"0" * 64, "1" * 64})), pg)

    assert result.action == "error"
    assert result.reason == (
        "none of the 2 hash(es) given for demo==1.0 matches a file of that release; "
        "regenerate the hashes (e.g. `uv pip compile --generate-hashes`) (requirements.txt:3)"
    )


def test_requires_python_excludes_files() -> None:
    pg = page(
        "demo",
        rf("demo-1.0-cp313-abi3-musllinux_1_2_aarch64.whl", requires_python=">=3.13"),
        rf("demo-1.0-py3-none-any.whl", requires_python=">=3.13"),
        rf("demo-1.0.tar.gz"),
    )

    result = plan_one(pin("demo"), pg)

    assert (result.action, result.file) == ("build", "demo-1.0.tar.gz")
    assert result.reason == "no musllinux aarch64 wheel for cp312; sdist only"


def test_requires_python_excluding_every_file_is_an_error() -> None:
    pg = page(
        "demo",
        rf("demo-1.0-py3-none-any.whl", requires_python=">=3.13"),
        rf("demo-1.0.tar.gz", requires_python=">=3.13"),
    )

    result = plan_one(pin("demo"), pg)

    assert result.action == "error"
    assert result.reason == (
        "every file of demo 1.0 requires a Python other than 3.12 "
        "(Requires-Python: >=3.13) (requirements.txt:3)"
    )


def test_broken_requires_python_is_ignored_as_pip_does() -> None:
    pg = page("demo", rf("demo-1.0-py3-none-any.whl", requires_python=">=3.6.*,<4"))

    assert plan_one(pin("demo"), pg).action == "download"


def test_a_yanked_file_loses_to_an_unyanked_one() -> None:
    pg = page(
        "demo",
        rf("demo-1.0-cp312-cp312-musllinux_1_2_aarch64.whl", yanked="broken build"),
        rf("demo-1.0-py3-none-any.whl"),
    )

    result = plan_one(pin("demo"), pg)

    assert (result.file, result.reason) == ("demo-1.0-py3-none-any.whl", "")


def test_an_exact_pin_still_gets_a_yanked_release_and_says_so() -> None:
    pg = page(
        "demo",
        rf("demo-1.0-py3-none-any.whl", yanked="CVE-0000-0001"),
        rf("demo-1.0.tar.gz", yanked="CVE-0000-0001"),
    )

    result = plan_one(pin("demo"), pg)

    assert (result.action, result.file) == ("download", "demo-1.0-py3-none-any.whl")
    assert result.reason == "[yanked: CVE-0000-0001]"


def test_a_yanked_sdist_without_a_reason() -> None:
    pg = page("demo", rf("demo-1.0.tar.gz", yanked=""))

    result = plan_one(pin("demo"), pg)

    assert result.action == "build"
    assert result.reason == "no musllinux aarch64 wheel for cp312; sdist only [yanked]"


def test_package_not_on_the_index() -> None:
    result = plan_one(pin("no-such-thing"), None)

    assert result == PackagePlan(
        name=canonicalize_name("no-such-thing"),
        version="1.0",
        action="error",
        reason="no-such-thing is not on the package index (requirements.txt:3)",
    )


def test_version_not_on_the_index() -> None:
    pg = page("demo", rf("demo-0.9.tar.gz"), rf("demo-1.1-py3-none-any.whl"))

    result = plan_one(pin("demo"), pg)

    assert result.action == "error"
    assert result.reason == "demo has no release 1.0 on the index (requirements.txt:3)"


def test_versions_compare_as_pep440() -> None:
    pg = page("demo", rf("demo-1.0.0.tar.gz"), rf("Demo-1.0-py3-none-any.whl"))

    result = plan_one(pin("demo", "1.0"), pg)

    assert result.file == "Demo-1.0-py3-none-any.whl"


def test_unparseable_file_names_are_skipped() -> None:
    pg = page("demo", rf("demo-latest.tar.gz"), rf("demo.whl"), rf("demo-1.0.tar.gz"))

    assert plan_one(pin("demo"), pg).file == "demo-1.0.tar.gz"


def test_unsupported_pin_is_an_error() -> None:
    reason = "VCS requirement: wheelhouse plans index releases only"

    result = plan_one(pin("demo", None, unsupported=reason, line=7), None)

    assert result == PackagePlan(
        name=canonicalize_name("demo"),
        version="",
        action="error",
        reason=f"{reason} (requirements.txt:7)",
    )


def test_pins_with_files_need_no_page() -> None:
    lock = Path("uv.lock")
    p = Pin(
        name=canonicalize_name("cffi"),
        version=Version("1.17.1"),
        location=Location(file=lock, field="package[3]"),
        files=(
            rf("cffi-1.17.1.tar.gz"),
            rf("cffi-1.17.1-cp312-cp312-musllinux_1_1_aarch64.whl"),
        ),
    )

    result = plan_target(MUSL_ARM, [p], {})

    assert result.packages[0].action == "download"
    assert result.packages[0].file == "cffi-1.17.1-cp312-cp312-musllinux_1_1_aarch64.whl"


def test_pins_with_no_files_are_an_error_that_names_the_field() -> None:
    p = Pin(
        name=canonicalize_name("cffi"),
        version=Version("1.17.1"),
        location=Location(file=Path("uv.lock"), field="package[3]"),
        files=(),
    )

    result = plan_target(MUSL_ARM, [p], {})

    assert result.packages[0].reason == (
        "cffi has no release 1.17.1 on the index (uv.lock: package[3])"
    )


def test_packages_come_out_sorted_and_counted() -> None:
    pins = [pin("zope-interface"), pin("attrs"), pin("missing")]
    projects: dict[NormalizedName, ProjectPage | None] = {
        canonicalize_name("zope-interface"): page(
            "zope-interface", rf("zope.interface-1.0.tar.gz")
        ),
        canonicalize_name("attrs"): page("attrs", rf("attrs-1.0-py3-none-any.whl")),
    }

    result = plan_target(MUSL_ARM, pins, projects)

    assert [p.name for p in result.packages] == ["attrs", "missing", "zope-interface"]
    assert result.counts == {"download": 1, "build": 1, "error": 1, "app": 0}
    assert [p.name for p in result.by_action("error")] == ["missing"]


def test_no_location_no_parentheses() -> None:
    result = plan_one(pin("demo", line=None), None)

    assert result.reason == "demo is not on the package index"


# --- only_releases: one pass over a big page, shared by every target ----------------


def test_only_releases_keeps_the_files_of_the_versions_asked_for() -> None:
    pg = page(
        "pytz",
        rf("pytz-2013b.tar.gz"),
        rf("pytz-2013b0-py2.py3-none-any.whl"),
        rf("pytz-2013.7.tar.gz"),
        rf("pytz-2024.1-py2.py3-none-any.whl"),
        rf("pytz-2024.1.tar.gz"),
        rf("pytz-2024.2.tar.gz"),
        rf("pytz-latest.zip"),
        rf("pytz.exe"),
    )

    narrowed = only_releases(pg, [Version("2013b0"), Version("2024.1")])

    assert narrowed is not None
    assert narrowed.name == "pytz"
    assert [f.filename for f in narrowed.files] == [
        "pytz-2013b.tar.gz",
        "pytz-2013b0-py2.py3-none-any.whl",
        "pytz-2024.1-py2.py3-none-any.whl",
        "pytz-2024.1.tar.gz",
    ]


def test_only_releases_of_no_page_or_no_versions() -> None:
    assert only_releases(None, [Version("1.0")]) is None
    narrowed = only_releases(page("demo", rf("demo-1.0.tar.gz")), [])
    assert narrowed is not None
    assert narrowed.files == ()


def test_planning_a_narrowed_page_decides_the_same() -> None:
    pg = page(
        "demo",
        *(rf(f"demo-0.{i}-cp312-cp312-musllinux_1_2_aarch64.whl") for i in range(50)),
        rf("demo-1.0.tar.gz"),
        rf("demo-1.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"),
        rf("demo-1.00-py3-none-any.whl"),
    )
    p = pin("demo", "1.0")

    whole = plan_one(p, pg)
    narrow = plan_one(p, only_releases(pg, [Version("1.0")]))

    assert whole == narrow
    assert (narrow.action, narrow.file) == ("download", "demo-1.00-py3-none-any.whl")
