"""uv.lock parsing and the pins of one target (fixtures: tests/data/uvlock/README.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName as N
from packaging.version import Version

from orchestrator.errors import RequirementsError
from orchestrator.model import Location, Pin, ReleaseFile
from orchestrator.plan.uvlock import (
    LockedDependency,
    UvLock,
    parse_uv_lock,
    pins_for_target,
    source_lines,
)
from orchestrator.targets import Target

DATA = Path(__file__).parents[2] / "data" / "uvlock"
DEMO = DATA / "demo" / "uv.lock"
KINDS = DATA / "kinds" / "uv.lock"

ARM = Target.parse("cp312-manylinux_2_36_aarch64")
X86 = Target.parse("cp311-manylinux_2_36_x86_64")
MUSL_ARM = Target.parse("cp311-musllinux_1_2_aarch64")

SHA = "sha256:" + "a" * 64
HEADER = 'version = 1\nrevision = 3\nrequires-python = ">=3.11"\n'
ROOT = '[[package]]\nname = "app"\nversion = "0.1.0"\nsource = { virtual = "." }\n'


def lock_text(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "uv.lock"
    path.write_text(text, encoding="utf-8")
    return path


def parse(tmp_path: Path, text: str) -> UvLock:
    return parse_uv_lock(lock_text(tmp_path, text))


def parse_error(tmp_path: Path, text: str) -> RequirementsError:
    with pytest.raises(RequirementsError) as info:
        parse(tmp_path, text)
    return info.value


def registry(name: str, version: str, deps: str = "", extra: str = "") -> str:
    return (
        f'[[package]]\nname = "{name}"\nversion = "{version}"\n'
        'source = { registry = "https://pypi.org/simple" }\n'
        f'sdist = {{ url = "https://files.example/{name}-{version}.tar.gz", hash = "{SHA}" }}\n'
        + (f"dependencies = [{deps}]\n" if deps else "")
        + extra
    )


def names(pins: tuple[Pin, ...]) -> list[tuple[str, str]]:
    return [(pin.name, str(pin.version)) for pin in pins]


# --- a real lock: extras and markers ---------------------------------------------------


def test_demo_lock_is_read_into_frozen_data() -> None:
    lock = parse_uv_lock(DEMO)
    assert lock.path == DEMO
    assert lock.revision == 5
    assert lock.requires_python == SpecifierSet(">=3.11")
    assert lock.roots == ("demo",)
    assert lock.root_requirements == ()
    assert len(lock.packages) == 14
    demo = lock.packages[3]
    assert (demo.name, demo.source, demo.source_detail) == ("demo", "virtual", ".")
    assert demo.dependencies == (
        LockedDependency(
            name=N("passlib"),
            extras=frozenset({N("bcrypt")}),
            location=Location(file=DEMO, field="package[3].dependencies[0]"),
        ),
        LockedDependency(
            name=N("psutil"), location=Location(file=DEMO, field="package[3].dependencies[1]")
        ),
        LockedDependency(
            name=N("python-jose"),
            extras=frozenset({N("cryptography")}),
            location=Location(file=DEMO, field="package[3].dependencies[2]"),
        ),
        LockedDependency(
            name=N("pywin32"),
            marker=Marker("sys_platform == 'win32'"),
            location=Location(file=DEMO, field="package[3].dependencies[3]"),
        ),
        LockedDependency(
            name=N("rpi-gpio"),
            marker=Marker("platform_machine == 'aarch64'"),
            location=Location(file=DEMO, field="package[3].dependencies[4]"),
        ),
    )
    passlib = lock.packages[5]
    assert dict(passlib.optional_dependencies) == {
        "bcrypt": (
            LockedDependency(
                name=N("bcrypt"),
                location=Location(file=DEMO, field="package[5].optional-dependencies.bcrypt[0]"),
            ),
        )
    }


def test_registry_package_files_come_with_url_hash_and_size() -> None:
    six = parse_uv_lock(DEMO).packages[13]
    assert six.name == "six"
    assert six.version == Version("1.17.0")
    assert six.source == "registry"
    assert six.source_detail == "https://pypi.org/simple"
    assert six.location == Location(file=DEMO, field="package[13]")
    assert six.sdist == ReleaseFile(
        filename="six-1.17.0.tar.gz",
        url="https://files.pythonhosted.org/packages/94/e7/"
        "b2c673351809dca68a0e064b6af791aa332cf192da575fd474ed7d6f16a2/six-1.17.0.tar.gz",
        sha256="ff70335d468e7eb6ec65b95b99d3a2836546063f63acc5171de367e834932a81",
        size=34031,
    )
    assert six.wheels == (
        ReleaseFile(
            filename="six-1.17.0-py2.py3-none-any.whl",
            url="https://files.pythonhosted.org/packages/b7/ce/"
            "149a00dd41f10bc29e5921b496af8b574d8413afcd5e30dfa0ed46c2cc5e/"
            "six-1.17.0-py2.py3-none-any.whl",
            sha256="4721f391ed90541fddacab5acf947aa0d3dc7d27b2e1e8eda2be8970586c3274",
            size=11050,
        ),
    )


def test_demo_pins_for_x86_64_follow_extras_and_skip_other_platforms() -> None:
    pins = pins_for_target(parse_uv_lock(DEMO), X86)
    assert names(pins) == [
        ("bcrypt", "5.0.0"),  # passlib[bcrypt]
        ("cffi", "2.1.1"),  # cryptography, on CPython
        ("cryptography", "50.0.2"),  # python-jose[cryptography]
        ("ecdsa", "0.19.2"),
        ("passlib", "1.7.4"),
        ("psutil", "6.1.1"),
        ("pyasn1", "0.6.5"),
        ("pycparser", "3.12"),
        ("python-jose", "3.3.0"),
        ("rsa", "4.9.1"),
        ("six", "1.17.0"),
    ]  # no rpi-gpio (aarch64 only), no pywin32 (Windows only), no demo (the app)
    six = pins[-1]
    lock_six = parse_uv_lock(DEMO).packages[13]
    assert six == Pin(
        name=N("six"),
        version=Version("1.17.0"),
        hashes=frozenset(
            {
                "ff70335d468e7eb6ec65b95b99d3a2836546063f63acc5171de367e834932a81",
                "4721f391ed90541fddacab5acf947aa0d3dc7d27b2e1e8eda2be8970586c3274",
            }
        ),
        location=Location(file=DEMO, field="package[13]"),
        files=lock_six.files,  # the sdist, then the wheels
    )


def test_demo_pins_for_aarch64_add_rpi_gpio() -> None:
    pins = {pin.name: pin for pin in pins_for_target(parse_uv_lock(DEMO), MUSL_ARM)}
    assert "pywin32" not in pins
    rpi = pins[N("rpi-gpio")]
    assert rpi.version == Version("0.7.1")
    assert [f.filename for f in rpi.files or ()] == ["RPi.GPIO-0.7.1.tar.gz"]
    assert rpi.unsupported is None


def test_force_build_is_set_by_normalized_name() -> None:
    pins = pins_for_target(parse_uv_lock(DEMO), X86, force_build=frozenset({"PyCParser", "cffi"}))
    assert sorted(pin.name for pin in pins if pin.force_build) == ["cffi", "pycparser"]


# --- a real lock: every source kind, a workspace and a fork ------------------------------

GIT = "file:///tmp/gitpkg?rev=v1.5.0#c858d111b44593f1305db0371c531b9e2925534c"


def test_kinds_roots_are_the_project_and_the_workspace_members() -> None:
    lock = parse_uv_lock(KINDS)
    assert lock.roots == ("kinds", "member")
    assert [
        (p.name, p.source, p.source_detail) for p in lock.packages if p.source != "registry"
    ] == [
        ("gitpkg", "git", GIT),
        (
            "iniconfig",
            "url",
            "https://files.pythonhosted.org/packages/d7/4b/"
            "cbd8e699e64a6f16ca3a8220661b5f83792b3017d0f79807cb8708d33913/iniconfig-2.0.0.tar.gz",
        ),
        ("kinds", "editable", "."),
        ("localarchive", "path", "dist/localarchive-1.5.0.tar.gz"),
        ("localdir", "directory", "libs/localdir"),
        ("localedit", "editable", "libs/localedit"),
        ("member", "editable", "packages/member"),
        (
            "six",
            "url",
            "https://files.pythonhosted.org/packages/b7/ce/"
            "149a00dd41f10bc29e5921b496af8b574d8413afcd5e30dfa0ed46c2cc5e/"
            "six-1.17.0-py2.py3-none-any.whl",
        ),
    ]


def test_kinds_pins_leave_out_roots_dev_groups_and_root_extras() -> None:
    pins = pins_for_target(parse_uv_lock(KINDS), X86)
    assert [(pin.name, str(pin.version), pin.unsupported is None) for pin in pins] == [
        ("attrs", "24.2.0", True),  # a dependency of the workspace member
        ("flpkg", "2.0.0", True),
        ("gitpkg", "1.5.0", False),
        ("iniconfig", "2.0.0", True),
        ("localarchive", "1.5.0", True),  # its archive, with the lock's hash
        ("localdir", "0.2.0", False),
        ("localedit", "0.3.0", False),
        ("numpy", "1.26.4", True),  # the python < 3.12 fork
        ("six", "1.17.0", True),  # through localdir, a local tree: its edges are followed
    ]  # not pytest, packaging, pluggy, colorama (dev group), not orjson (root extra)


def test_kinds_fork_is_chosen_by_the_edge_marker_for_the_target() -> None:
    pins = {pin.name: pin for pin in pins_for_target(parse_uv_lock(KINDS), ARM)}
    assert pins[N("numpy")].version == Version("2.1.3")
    assert pins[N("numpy")].location == Location(file=KINDS, field="package[11]")


def test_non_registry_sources_are_unsupported_with_a_reason_and_a_fix() -> None:
    pins = {pin.name: pin for pin in pins_for_target(parse_uv_lock(KINDS), X86)}
    assert pins[N("gitpkg")].unsupported == (
        f"git source {GIT}: wheelhouse plans index releases only; "
        "publish gitpkg 1.5.0 to an index (a private one works) and re-run `uv lock`"
    )
    assert pins[N("gitpkg")].files == ()
    assert pins[N("localarchive")].files == (
        ReleaseFile(
            filename="localarchive-1.5.0.tar.gz",
            url=(KINDS.parent / "dist/localarchive-1.5.0.tar.gz").resolve().as_uri(),
            sha256="89d3c88ac63a755860c040e545bcf651eb9f9ff4a36c2cb41372d92cd7b6089c",
        ),
    )
    assert pins[N("localdir")].unsupported == (
        "local directory source libs/localdir: wheelhouse plans index releases only; "
        "publish localdir 0.2.0 to an index and re-run `uv lock`"
    )
    assert pins[N("localedit")].unsupported == (
        "local editable source libs/localedit: wheelhouse plans index releases only; "
        "publish localedit 0.3.0 to an index and re-run `uv lock`"
    )


def test_url_sources_give_their_archive_so_it_can_be_fetched_or_built() -> None:
    pins = {pin.name: pin for pin in pins_for_target(parse_uv_lock(KINDS), X86)}
    iniconfig_sha = "2d91e135bf72d31a410b17c16da610a82cb55f6b0477d1a902134b24a455b8b3"
    assert pins[N("iniconfig")].files == (
        ReleaseFile(
            filename="iniconfig-2.0.0.tar.gz",
            url="https://files.pythonhosted.org/packages/d7/4b/"
            "cbd8e699e64a6f16ca3a8220661b5f83792b3017d0f79807cb8708d33913/iniconfig-2.0.0.tar.gz",
            sha256=iniconfig_sha,
        ),
    )
    assert pins[N("iniconfig")].hashes == {iniconfig_sha}
    assert [f.filename for f in pins[N("six")].files or ()] == ["six-1.17.0-py2.py3-none-any.whl"]


def test_find_links_registry_files_are_local_file_urls() -> None:
    pins = {pin.name: pin for pin in pins_for_target(parse_uv_lock(KINDS), X86)}
    flinks = (KINDS.parent / "flinks").resolve()
    assert pins[N("flpkg")].files == (
        ReleaseFile(filename="flpkg-2.0.0.tar.gz", url=(flinks / "flpkg-2.0.0.tar.gz").as_uri()),
        ReleaseFile(
            filename="flpkg-2.0.0-py3-none-any.whl",
            url=(flinks / "flpkg-2.0.0-py3-none-any.whl").as_uri(),
        ),
    )
    assert pins[N("flpkg")].hashes == frozenset()


# --- hand-written graphs ------------------------------------------------------------------


def test_optional_dependency_edges_evaluate_markers_with_their_extra(tmp_path: Path) -> None:
    lock = parse(
        tmp_path,
        HEADER
        + ROOT
        + 'dependencies = [{ name = "a", extra = ["x"] }, { name = "plain" }]\n'
        + registry(
            "a",
            "1.0",
            deps='{ name = "never", marker = "extra == \'x\'" }',
            extra="[package.optional-dependencies]\n"
            "x = [\n"
            "    { name = \"b\", marker = \"extra == 'x' and platform_machine == 'aarch64'\" },\n"
            '    { name = "c", marker = "extra == \'y\'" },\n'
            "]\n"
            'y = [{ name = "d" }]\n',
        )
        + registry("b", "2.0")
        + registry("c", "3.0")
        + registry("d", "4.0")
        + registry("never", "5.0")
        + registry("plain", "6.0", deps='{ name = "a" }'),
    )
    assert names(pins_for_target(lock, ARM)) == [("a", "1.0"), ("b", "2.0"), ("plain", "6.0")]
    assert names(pins_for_target(lock, X86)) == [("a", "1.0"), ("plain", "6.0")]


def test_forks_without_edge_versions_are_told_apart_by_resolution_markers(tmp_path: Path) -> None:
    fork = "resolution-markers = [\"platform_machine == '{}'\"]\n"
    lock = parse(
        tmp_path,
        HEADER
        + ROOT
        + 'dependencies = [{ name = "c" }]\n'
        + registry("c", "1.0", extra=fork.format("aarch64"))
        + registry("c", "2.0", extra=fork.format("x86_64")),
    )
    assert names(pins_for_target(lock, ARM)) == [("c", "1.0")]
    assert names(pins_for_target(lock, X86)) == [("c", "2.0")]


def test_an_edge_no_fork_claims_for_the_target_is_an_error(tmp_path: Path) -> None:
    fork = "resolution-markers = [\"sys_platform == '{}'\"]\n"
    lock = parse(
        tmp_path,
        HEADER
        + ROOT
        + 'dependencies = [{ name = "c" }]\n'
        + registry("c", "1.0", extra=fork.format("win32"))
        + registry("c", "2.0", extra=fork.format("darwin")),
    )
    with pytest.raises(RequirementsError) as info:
        pins_for_target(lock, ARM)
    assert info.value.message == (
        f"{tmp_path / 'uv.lock'}: package[0].dependencies[0]: `c` matches no locked packages "
        f"for target cp312-manylinux_2_36_aarch64 (1.0, 2.0)"
    )
    assert info.value.hint == (
        "the lock file looks damaged or hand-edited; regenerate it with `uv lock`"
    )


def test_script_lock_roots_are_the_manifest_requirements(tmp_path: Path) -> None:
    lock = parse(
        tmp_path,
        HEADER
        + "[manifest]\nrequirements = [\n"
        + '    { name = "a", marker = "sys_platform == \'linux\'", extras = ["x"] },\n'
        + '    { name = "w", marker = "sys_platform == \'win32\'" },\n]\n'
        + registry("a", "1.0", extra='[package.optional-dependencies]\nx = [{ name = "b" }]\n')
        + registry("b", "2.0")
        + registry("w", "3.0"),
    )
    assert lock.roots == ()
    assert [d.name for d in lock.root_requirements] == ["a", "w"]
    assert lock.root_requirements[0].extras == {"x"}
    assert names(pins_for_target(lock, ARM)) == [("a", "1.0"), ("b", "2.0")]


def test_virtual_workspace_roots_are_its_members(tmp_path: Path) -> None:
    lock = parse(
        tmp_path,
        HEADER
        + '[manifest]\nmembers = ["Lib-A"]\n'
        + '[[package]]\nname = "lib-a"\nversion = "1.0"\nsource = { editable = "libs/a" }\n'
        + 'dependencies = [{ name = "b" }]\n'
        + registry("b", "2.0"),
    )
    assert lock.roots == ("lib-a",)
    assert names(pins_for_target(lock, ARM)) == [("b", "2.0")]


def test_virtual_packages_are_not_pinned_but_their_dependencies_are(tmp_path: Path) -> None:
    lock = parse(
        tmp_path,
        HEADER
        + ROOT
        + 'dependencies = [{ name = "tools" }]\n'
        + '[[package]]\nname = "tools"\nsource = { virtual = "tools" }\n'
        + 'dependencies = [{ name = "b" }]\n'
        + registry("b", "2.0"),
    )
    assert lock.packages[1].version is None
    assert names(pins_for_target(lock, ARM)) == [("b", "2.0")]


def test_url_source_without_an_archive_is_unsupported(tmp_path: Path) -> None:
    lock = parse(
        tmp_path,
        HEADER
        + ROOT
        + 'dependencies = [{ name = "u" }]\n'
        + '[[package]]\nname = "u"\nversion = "1.0"\n'
        + 'source = { url = "https://files.example/u/archive", subdirectory = "pkg" }\n',
    )
    assert lock.packages[1].subdirectory == "pkg"
    (pin,) = pins_for_target(lock, ARM)
    assert pin.unsupported == (
        "URL source https://files.example/u/archive: the lock lists no archive for it; "
        "publish u 1.0 to an index and re-run `uv lock`"
    )


def test_requires_python_that_excludes_the_target_is_an_error(tmp_path: Path) -> None:
    lock = parse(tmp_path, HEADER.replace(">=3.11", ">=3.12.4") + ROOT)
    assert pins_for_target(lock, ARM) == ()  # some 3.12.z satisfies >=3.12.4
    with pytest.raises(RequirementsError) as info:
        pins_for_target(lock, X86)
    assert info.value.message == (
        f"{tmp_path / 'uv.lock'}: requires-python >=3.12.4 excludes target "
        "cp311-manylinux_2_36_x86_64 (Python 3.11)"
    )
    assert info.value.hint == (
        "drop the target, or widen `requires-python` in pyproject.toml and re-run `uv lock`"
    )


def test_supported_markers_that_exclude_the_target_are_an_error(tmp_path: Path) -> None:
    lock = parse(
        tmp_path,
        HEADER + "supported-markers = [\"sys_platform == 'darwin'\"]\n" + ROOT,
    )
    with pytest.raises(RequirementsError) as info:
        pins_for_target(lock, ARM)
    assert info.value.message == (
        f'{tmp_path / "uv.lock"}: supported-markers (`sys_platform == "darwin"`) exclude '
        "target cp312-manylinux_2_36_aarch64"
    )
    assert info.value.hint == (
        "add the target's platform to `tool.uv.environments` and re-run `uv lock`"
    )


# --- errors name the file and the TOML path ---------------------------------------------


def test_missing_lock_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RequirementsError) as info:
        parse_uv_lock(tmp_path / "uv.lock")
    assert info.value.message == f"uv.lock not found: {tmp_path / 'uv.lock'}"
    assert info.value.hint == "run `uv lock` in the project to create it, or fix the path to it"


def test_other_lock_versions_are_refused() -> None:
    path = DATA / "malformed" / "version-2.lock"
    with pytest.raises(RequirementsError) as info:
        parse_uv_lock(path)
    assert info.value.message == (
        f"{path}: uv.lock version 2 is not supported; wheelhouse reads version 1"
    )
    assert info.value.hint == (
        "lock with a uv release that writes `version = 1`, or upgrade wheelhouse"
    )


def test_invalid_toml_is_an_error() -> None:
    path = DATA / "malformed" / "not-toml.lock"
    with pytest.raises(RequirementsError) as info:
        parse_uv_lock(path)
    assert info.value.message == (
        f"{path}: not valid TOML: Expected ']]' at the end of an array declaration "
        "(at line 2, column 10)"
    )


def test_hashes_must_be_sha256() -> None:
    path = DATA / "malformed" / "md5-hash.lock"
    with pytest.raises(RequirementsError) as info:
        parse_uv_lock(path)
    assert info.value.message == (
        f"{path}: package[1].wheels[0].hash: expected 'sha256:<hex>', "
        "got 'md5:0123456789abcdef0123456789abcdef'"
    )
    assert info.value.hint == (
        "wheelhouse checks files by sha256: lock against an index that serves sha256 digests "
        "(PyPI does), or regenerate the lock with `uv lock`"
    )


def test_a_dependency_must_be_a_locked_package() -> None:
    path = DATA / "malformed" / "dangling-dependency.lock"
    with pytest.raises(RequirementsError) as info:
        parse_uv_lock(path)
    assert info.value.message == (
        f"{path}: package[0].dependencies[1]: `nowhere` is not a locked package"
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('requires-python = ">=3.11"\n' + ROOT, "version: missing; is this a uv.lock file?"),
        ('version = "1"\n' + ROOT, "version: expected an integer, got '1'"),
        (HEADER + "package = 3\n", "package: expected an array, got 3"),
        (HEADER + "package = [3]\n", "package[0]: expected a table, got 3"),
        (
            HEADER.replace(">=3.11", "3.11+") + ROOT,
            "requires-python: '3.11+' is not a version specifier",
        ),
        (
            HEADER + '[[package]]\nversion = "1"\nsource = { virtual = "." }\n',
            "package[0].name: missing",
        ),
        (
            HEADER + '[[package]]\nname = "-x-"\nsource = { virtual = "." }\n',
            "package[0].name: '-x-' is not a valid project name",
        ),
        (HEADER + '[[package]]\nname = "app"\nversion = "1"\n', "package[0].source: missing"),
        (
            HEADER
            + '[[package]]\nname = "app"\nversion = "1"\nsource = { virtual = ".", git = "x" }\n',
            "package[0].source: expected exactly one of registry, git, path, directory, "
            "editable, url, virtual; got {'virtual': '.', 'git': 'x'}",
        ),
        (
            HEADER + '[[package]]\nname = "app"\nversion = "1"\nsource = { virtual = 1 }\n',
            "package[0].source.virtual: expected a string, got 1",
        ),
        (
            HEADER + ROOT + registry("b", "1.0").replace('version = "1.0"\n', ""),
            "package[1].version: missing (required for a registry source)",
        ),
        (
            HEADER + ROOT + registry("b", "one"),
            "package[1].version: 'one' is not a PEP 440 version",
        ),
        (
            HEADER + ROOT + registry("b", "1.0", extra='resolution-markers = ["os_name =="]\n'),
            "package[1].resolution-markers[0]: invalid marker 'os_name ==': Expected a marker "
            "variable or quoted string\n    os_name ==\n              ^",
        ),
        (
            HEADER + ROOT + 'dependencies = [{ name = "b", marker = 3 }]\n' + registry("b", "1.0"),
            "package[0].dependencies[0].marker: expected a string, got 3",
        ),
        (
            HEADER
            + ROOT
            + 'dependencies = [{ name = "b", extra = ["!"] }]\n'
            + registry("b", "1.0"),
            "package[0].dependencies[0].extra[0]: '!' is not a valid extra name",
        ),
        (
            HEADER + ROOT + 'wheels = [{ hash = "' + SHA + '" }]\n',
            "package[0].wheels[0].url: missing (a file needs `url` or `path`)",
        ),
        (
            HEADER + ROOT + 'wheels = [{ url = "https://x/app-1-py3-none-any.whl", size = "9" }]\n',
            "package[0].wheels[0].size: expected an integer, got '9'",
        ),
        (
            HEADER + ROOT + 'sdist = { url = "https://x/app-1.tar.gz", hash = "sha256:abc" }\n',
            "package[0].sdist.hash: expected 'sha256:<hex>', got 'sha256:abc'",
        ),
        (
            HEADER + '[manifest]\nmembers = ["ghost"]\n' + ROOT,
            "manifest.members[0]: workspace member 'ghost' is not a locked package",
        ),
        (
            HEADER
            + ROOT
            + 'dependencies = [{ name = "b", version = "2.0" }]\n'
            + registry("b", "1.0"),
            "package[0].dependencies[0]: `b` 2.0 is not a locked package",
        ),
    ],
)
def test_malformed_fields_are_named_by_their_toml_path(
    tmp_path: Path, text: str, problem: str
) -> None:
    error = parse_error(tmp_path, text)
    assert error.message == f"{tmp_path / 'uv.lock'}: {problem}"
    assert error.hint is not None


def test_a_lock_without_a_root_is_an_error(tmp_path: Path) -> None:
    error = parse_error(tmp_path, HEADER + registry("b", "1.0"))
    assert error.message == (
        f"{tmp_path / 'uv.lock'}: no root project: no package has source "
        '`editable = "."` or `virtual = "."`, and [manifest] lists no members or requirements'
    )
    assert error.hint == (
        "run `uv lock` in the project's directory and use the uv.lock it writes there"
    )


def test_git_folder_and_editable_sources_are_handed_to_the_host_to_prepare() -> None:
    lines = {line.name: line for line in source_lines(parse_uv_lock(KINDS)) if line.name}
    assert sorted(lines) == ["gitpkg", "localdir", "localedit"]  # member: a root, the app
    assert (lines[N("gitpkg")].kind, lines[N("gitpkg")].target) == (
        "git",
        "git+file:///tmp/gitpkg@c858d111b44593f1305db0371c531b9e2925534c",
    )
    folder = (KINDS.parent / "libs").resolve()
    assert [(lines[n].kind, lines[n].target) for n in (N("localdir"), N("localedit"))] == [
        ("directory", str(folder / "localdir")),
        ("editable", str(folder / "localedit")),
    ]
    assert lines[N("gitpkg")].location == Location(file=KINDS, field="package[3]")
