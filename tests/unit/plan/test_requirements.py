"""requirements.txt parsing (as pip reads it) and the pins of one target."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.utils import NormalizedName as N
from packaging.version import Version

from orchestrator.errors import RequirementsError
from orchestrator.model import Location, Pin
from orchestrator.plan.requirements import (
    RequirementsFile,
    UnsupportedLine,
    is_fully_pinned,
    parse_requirements,
    pins_for_target,
)
from orchestrator.targets import Target

ARM = Target.parse("cp312-manylinux_2_36_aarch64")
X86 = Target.parse("cp311-musllinux_1_2_x86_64")
HASH_A = "a" * 64
HASH_B = "b" * 64
HASH_C = "c" * 64


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def parse(tmp_path: Path, text: str, name: str = "requirements.txt") -> RequirementsFile:
    return parse_requirements(write(tmp_path / name, text))


def parse_error(tmp_path: Path, text: str) -> RequirementsError:
    with pytest.raises(RequirementsError) as info:
        parse(tmp_path, text)
    return info.value


# --- lines, comments, continuations -------------------------------------------------


def test_requirement_line_keeps_requirement_location_and_text(tmp_path: Path) -> None:
    reqs = parse(tmp_path, "\n# a comment\nFoo_Bar[Fast]>=1.0,<2 ; python_version >= '3.11'\n")
    (line,) = reqs.requirements
    assert line.name == "foo-bar"
    assert line.requirement.extras == {"Fast"}
    assert str(line.requirement.specifier) == "<2,>=1.0"
    assert line.requirement.marker == Marker("python_version >= '3.11'")
    assert line.location == Location(file=tmp_path / "requirements.txt", line=3)
    assert line.text == "Foo_Bar[Fast]>=1.0,<2 ; python_version >= '3.11'"
    assert line.hashes == frozenset()
    assert reqs.files == (tmp_path / "requirements.txt",)


def test_comments_and_blank_lines_are_dropped(tmp_path: Path) -> None:
    reqs = parse(tmp_path, "#top\n\n   \nsix==1.17.0  # pinned for py2\n\t# indented comment\n")
    assert [line.text for line in reqs.requirements] == ["six==1.17.0"]


def test_hash_sign_inside_a_url_fragment_is_not_a_comment(tmp_path: Path) -> None:
    reqs = parse(tmp_path, f"six @ https://files.example/six-1.17.0.tar.gz#sha256={HASH_A}\n")
    (line,) = reqs.sources
    assert line.text == f"six @ https://files.example/six-1.17.0.tar.gz#sha256={HASH_A}"
    assert line.target == "https://files.example/six-1.17.0.tar.gz"
    assert line.hashes == {HASH_A}


def test_a_bad_sha256_fragment_is_an_error(tmp_path: Path) -> None:
    error = parse_error(tmp_path, "six @ https://files.example/six-1.17.0.tar.gz#sha256=abc\n")
    assert error.message.endswith("--hash=sha256:abc: a sha256 digest is 64 hex digits")


def test_continuations_are_joined_and_located_at_their_first_line(tmp_path: Path) -> None:
    reqs = parse(
        tmp_path,
        f"# header\nsix==1.17.0 \\\n    --hash=sha256:{HASH_A} \\\n    --hash sha256:{HASH_B}\n"
        "    # via somebody\nattrs==24.2.0\n",
    )
    six, attrs = reqs.requirements
    assert six.location.line == 2
    assert six.hashes == {HASH_A, HASH_B}
    assert six.text == f"six==1.17.0     --hash=sha256:{HASH_A}     --hash sha256:{HASH_B}"
    assert attrs.location.line == 6


def test_a_comment_line_ends_a_continuation(tmp_path: Path) -> None:
    reqs = parse(tmp_path, "six==1.17.0 \\\n# comment\nattrs==24.2.0\n")
    assert [(line.text, line.location.line) for line in reqs.requirements] == [
        ("six==1.17.0", 1),
        ("attrs==24.2.0", 3),
    ]


def test_a_backslash_on_the_last_line_is_dropped(tmp_path: Path) -> None:
    reqs = parse(tmp_path, "six==1.17.0 \\")
    assert [line.text for line in reqs.requirements] == ["six==1.17.0"]


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_bytes(b"\xef\xbb\xbfsix==1.17.0\n")
    assert [line.name for line in parse_requirements(path).requirements] == ["six"]


def test_file_that_is_not_utf8_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_bytes(b"six==1.17.0 # caf\xe9\n")
    with pytest.raises(RequirementsError) as info:
        parse_requirements(path)
    assert info.value.message == f"{path}:1: not UTF-8 text (byte 17: invalid continuation byte)"
    assert info.value.hint == "save the file as UTF-8"


def test_a_nul_byte_is_an_error_naming_its_line(tmp_path: Path) -> None:
    # fuzz_inputs.py's find: a line starting with NUL was taken as a local path, and
    # Path.exists() raised ValueError ("embedded null byte").
    path = tmp_path / "requirements.txt"
    path.write_bytes(b"six==1.17.0\n\x00 a comment that lost its hash\ncrcmod==1.7\n")
    with pytest.raises(RequirementsError) as info:
        parse_requirements(path)
    assert info.value.message == (
        f"{path}:2: a NUL byte (byte 12): not a text file, or a damaged one"
    )
    assert info.value.hint == "save the file as UTF-8 text"


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RequirementsError) as info:
        parse_requirements(tmp_path / "nope.txt")
    assert info.value.message == f"requirements file not found: {tmp_path / 'nope.txt'}"
    assert info.value.hint == (
        "check the path in wheelhouse.yaml `requirements:` or pass --requirements"
    )


# --- environment variables ----------------------------------------------------------


def test_environment_variables_are_expanded_as_pip_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INDEX_TOKEN", "s3cret")
    monkeypatch.setenv("SIX_VERSION", "1.17.0")
    monkeypatch.delenv("UNSET_VAR", raising=False)
    monkeypatch.setenv("lower", "never")
    reqs = parse(
        tmp_path,
        "--extra-index-url https://u:${INDEX_TOKEN}@pkgs.example/simple\n"
        "-i https://${UNSET_VAR}/simple\n"
        "--extra-index-url https://${lower}/simple\n"
        "six==${SIX_VERSION}\n",
    )
    assert reqs.extra_index_urls == (
        "https://u:s3cret@pkgs.example/simple",
        "https://${lower}/simple",
    )
    assert reqs.index_url == "https://${UNSET_VAR}/simple"
    (six,) = reqs.requirements
    assert str(six.requirement) == "six==1.17.0"
    # the text stays as written, so messages never show a secret
    assert six.text == "six==${SIX_VERSION}"


# --- options ------------------------------------------------------------------------


def test_index_urls_with_equals_or_space_last_index_wins_extras_deduplicated(
    tmp_path: Path,
) -> None:
    reqs = parse(
        tmp_path,
        "-i https://first.example/simple\n"
        "--extra-index-url=https://a.example/simple\n"
        "--extra-index-url https://b.example/simple\n"
        "--index-url=https://second.example/simple\n"
        "--extra-index https://a.example/simple\n"
        "-ihttps://third.example/simple\n",
    )
    assert reqs.index_url == "https://third.example/simple"
    assert reqs.extra_index_urls == ("https://a.example/simple", "https://b.example/simple")


def test_pip_options_wheelhouse_ignores_record_nothing(tmp_path: Path) -> None:
    reqs = parse(
        tmp_path,
        "--no-binary :all:\n--only-binary=numpy\n--prefer-binary\n--pre\n"
        "--trusted-host pkgs.example\n--use-feature=truststore\n--require-hashes\n"
        "--no-index\nsix==1.17.0\n",
    )
    assert [line.name for line in reqs.requirements] == ["six"]
    assert reqs.index_url is None
    assert reqs.extra_index_urls == ()
    assert reqs.unsupported == ()


def test_find_links_folders_are_relative_to_the_file_and_urls_kept(tmp_path: Path) -> None:
    (tmp_path / "app" / "wheels").mkdir(parents=True)
    (tmp_path / "shared").mkdir()
    write(tmp_path / "app" / "base.txt", "--find-links ../shared\n")
    reqs = parse(
        tmp_path,
        "--find-links=wheels\n-f https://download.example/wheels/\n-r base.txt\n"
        "-fwheels\nsix==1.17.0\n",
        name="app/requirements.txt",
    )
    assert [(f.value, f.folder, f.url) for f in reqs.find_links] == [
        ("wheels", tmp_path / "app" / "wheels", None),
        ("https://download.example/wheels/", None, "https://download.example/wheels/"),
        ("../shared", tmp_path / "shared", None),
    ]
    assert reqs.find_links[0].location == Location(file=tmp_path / "app/requirements.txt", line=1)
    assert [f.uv_value for f in reqs.find_links] == [
        str(tmp_path / "app" / "wheels"),
        "https://download.example/wheels/",
        str(tmp_path / "shared"),
    ]


def test_find_links_file_url_is_a_folder(tmp_path: Path) -> None:
    (tmp_path / "w").mkdir()
    reqs = parse(tmp_path, f"--find-links {(tmp_path / 'w').as_uri()}\n")
    assert reqs.find_links[0].folder == tmp_path / "w"


def test_missing_find_links_folder_names_the_line_and_the_fix(tmp_path: Path) -> None:
    error = parse_error(tmp_path, "six==1.17.0\n--find-links=python_wheels\n")
    assert error.message == (
        f"{tmp_path / 'requirements.txt'}:2: --find-links=python_wheels\n"
        f"  --find-links folder not found: {tmp_path / 'python_wheels'}"
    )
    assert error.hint == (
        f"a relative folder is taken from the requirements file's folder ({tmp_path}); "
        "create it, fix the path, or remove the line"
    )


def test_unknown_option_is_an_error_naming_the_line(tmp_path: Path) -> None:
    error = parse_error(tmp_path, "six==1.17.0\n--frobnicate yes\n")
    assert error.message == (
        f"{tmp_path / 'requirements.txt'}:2: --frobnicate yes\n  unknown option '--frobnicate'"
    )
    assert error.hint is not None
    assert error.hint.startswith("wheelhouse reads the options pip accepts in requirements files:")
    assert "--extra-index-url" in error.hint


def test_option_needing_a_value_without_one_is_an_error(tmp_path: Path) -> None:
    error = parse_error(tmp_path, "--index-url\n")
    assert error.message == (
        f"{tmp_path / 'requirements.txt'}:1: --index-url\n  option --index-url needs a value"
    )
    assert error.hint == "write --index-url VALUE"


def test_file_option_after_a_requirement_is_an_error(tmp_path: Path) -> None:
    error = parse_error(tmp_path, "six==1.17.0 -i https://pkgs.example/simple\n")
    assert error.message == (
        f"{tmp_path / 'requirements.txt'}:1: six==1.17.0 -i https://pkgs.example/simple\n"
        "  option --index-url cannot follow a requirement"
    )
    assert error.hint == "put --index-url on a line of its own"


def test_per_requirement_build_options_are_refused(tmp_path: Path) -> None:
    error = parse_error(tmp_path, "six==1.17.0 --config-settings=x=y\n")
    assert error.message == (
        f"{tmp_path / 'requirements.txt'}:1: six==1.17.0 --config-settings=x=y\n"
        "  --config-settings is not supported: wheelhouse builds every sdist "
        "the same way for a target"
    )
    assert error.hint == "remove --config-settings from the line"


# --- hashes -------------------------------------------------------------------------


def test_hashes_are_lower_cased_sha256_digests(tmp_path: Path) -> None:
    reqs = parse(tmp_path, f"six==1.17.0 --hash=sha256:{HASH_A.upper()} --hash=SHA256:{HASH_B}\n")
    assert reqs.requirements[0].hashes == {HASH_A, HASH_B}


def test_other_hash_algorithms_are_an_error_naming_the_line(tmp_path: Path) -> None:
    digest = "0" * 128
    error = parse_error(tmp_path, f"six==1.17.0\nattrs==24.2.0 --hash=sha512:{digest}\n")
    assert error.message == (
        f"{tmp_path / 'requirements.txt'}:2: attrs==24.2.0 --hash=sha512:{digest}\n"
        f"  --hash=sha512:{digest}: only sha256 hashes are supported"
    )
    assert error.hint == (
        "regenerate hashes with `uv pip compile --generate-hashes` or "
        "`pip-compile --generate-hashes` (both write sha256)"
    )


def test_malformed_hashes_are_errors(tmp_path: Path) -> None:
    error = parse_error(tmp_path, "six==1.17.0 --hash=sha256:abc\n")
    assert error.message.endswith("  --hash=sha256:abc: a sha256 digest is 64 hex digits")
    error = parse_error(tmp_path, f"six==1.17.0 --hash={HASH_A}\n")
    assert error.message.endswith(f"  --hash={HASH_A}: expected ALGORITHM:DIGEST")
    assert error.hint == "write --hash=sha256:<64 hex digits>"


def test_hash_without_a_requirement_is_an_error(tmp_path: Path) -> None:
    error = parse_error(tmp_path, f"six==1.17.0\n--hash=sha256:{HASH_A}\n")
    assert error.message == (
        f"{tmp_path / 'requirements.txt'}:2: --hash=sha256:{HASH_A}\n"
        "  --hash belongs after a requirement on the same line"
    )


# --- invalid requirements -------------------------------------------------------------


def test_invalid_requirement_names_file_line_text_and_the_parser_explanation(
    tmp_path: Path,
) -> None:
    error = parse_error(tmp_path, "six==1.17.0\n\nattrs=24.2.0\n")
    assert error.message == (
        f"{tmp_path / 'requirements.txt'}:3: attrs=24.2.0\n"
        "  invalid requirement: Expected semicolon (after name with no version specifier) "
        "or end\n    attrs=24.2.0\n         ^"
    )
    assert error.hint == "use `==` to pin a version, e.g. `name==1.2.3`"


def test_invalid_requirement_hint_shows_the_format(tmp_path: Path) -> None:
    error = parse_error(tmp_path, "six>=>1\n")
    assert error.message.startswith(
        f"{tmp_path / 'requirements.txt'}:1: six>=>1\n  invalid requirement: "
    )
    assert error.hint == (
        "write one PEP 508 requirement per line, "
        'e.g. `name==1.2.3` or `name[extra]>=1 ; python_version >= "3.11"`'
    )


# --- includes -----------------------------------------------------------------------


def test_includes_are_read_in_place_relative_to_the_including_file(tmp_path: Path) -> None:
    write(tmp_path / "reqs" / "base.txt", "attrs==24.2.0\n-r more/extra.txt\n")
    write(tmp_path / "reqs" / "more" / "extra.txt", "idna==3.10\n")
    write(tmp_path / "reqs" / "pins.txt", "six==1.17.0\n")
    reqs = parse(
        tmp_path,
        "-r reqs/base.txt\nsix==1.17.0\n--requirement=reqs/pins.txt\n--requirement reqs/pins.txt\n",
    )
    assert [(line.name, line.location) for line in reqs.requirements] == [
        ("attrs", Location(file=tmp_path / "reqs" / "base.txt", line=1)),
        ("idna", Location(file=tmp_path / "reqs" / "more" / "extra.txt", line=1)),
        ("six", Location(file=tmp_path / "requirements.txt", line=2)),
        ("six", Location(file=tmp_path / "reqs" / "pins.txt", line=1)),
        ("six", Location(file=tmp_path / "reqs" / "pins.txt", line=1)),
    ]
    assert reqs.files == (
        tmp_path / "requirements.txt",
        tmp_path / "reqs" / "base.txt",
        tmp_path / "reqs" / "more" / "extra.txt",
        tmp_path / "reqs" / "pins.txt",
    )


def test_constraints_are_kept_apart(tmp_path: Path) -> None:
    write(tmp_path / "constraints.txt", "six==1.17.0\n-r also-required.txt\n")
    write(tmp_path / "also-required.txt", "idna==3.10\n")
    reqs = parse(tmp_path, "six>=1\n-c constraints.txt\n--constraint=constraints.txt\n")
    assert [line.text for line in reqs.requirements] == ["six>=1", "idna==3.10", "idna==3.10"]
    assert [line.text for line in reqs.constraints] == ["six==1.17.0", "six==1.17.0"]
    # as in pip, `-r` inside a constraints file includes requirements


def test_missing_include_names_the_including_file_and_line(tmp_path: Path) -> None:
    error = parse_error(tmp_path, "six==1.17.0\n-r sub/missing.txt\n")
    assert error.message == (
        f"{tmp_path / 'requirements.txt'}:2: -r sub/missing.txt\n"
        f"  included file not found: {tmp_path / 'sub' / 'missing.txt'}"
    )
    assert error.hint == (
        f"paths after -r / -c are relative to the including file's directory ({tmp_path})"
    )


def test_missing_constraints_file_is_an_error_too(tmp_path: Path) -> None:
    error = parse_error(tmp_path, "-c constraints.txt\n")
    assert error.message == (
        f"{tmp_path / 'requirements.txt'}:1: -c constraints.txt\n"
        f"  included file not found: {tmp_path / 'constraints.txt'}"
    )


def test_include_cycles_are_detected(tmp_path: Path) -> None:
    write(tmp_path / "a.txt", "six==1.17.0\n-r b.txt\n")
    write(tmp_path / "b.txt", "\n\n-r ./a.txt\n")
    with pytest.raises(RequirementsError) as info:
        parse_requirements(tmp_path / "a.txt")
    assert info.value.message == (
        f"{tmp_path / 'b.txt'}:3: -r ./a.txt\n  include cycle: a.txt -> b.txt -> a.txt"
    )
    assert info.value.hint == "remove one of the -r / -c lines; includes must not form a cycle"


def test_a_file_including_itself_is_a_cycle(tmp_path: Path) -> None:
    error = parse_error(tmp_path, "-r requirements.txt\n")
    assert error.message.endswith("include cycle: requirements.txt -> requirements.txt")


def test_the_same_file_included_twice_without_a_cycle_is_fine(tmp_path: Path) -> None:
    write(tmp_path / "common.txt", "six==1.17.0\n")
    write(tmp_path / "a.txt", "-r common.txt\n")
    reqs = parse(tmp_path, "-r common.txt\n-r a.txt\n")
    assert len(reqs.requirements) == 2
    assert reqs.files == (
        tmp_path / "requirements.txt",
        tmp_path / "common.txt",
        tmp_path / "a.txt",
    )


def test_remote_includes_are_refused(tmp_path: Path) -> None:
    error = parse_error(tmp_path, "-r https://example.org/requirements.txt\n")
    assert error.message == (
        f"{tmp_path / 'requirements.txt'}:1: -r https://example.org/requirements.txt\n"
        "  remote requirements files are not read"
    )
    assert error.hint == "download the file next to this one and include it by its path"


# --- lines wheelhouse cannot plan -------------------------------------------------------

VCS = (
    "VCS requirement: wheelhouse plans index releases only; "
    "publish a release to an index (a private one works) and pin `name==version`"
)


def test_vcs_lines_are_kept_unsupported_with_name_and_reason(tmp_path: Path) -> None:
    reqs = parse(
        tmp_path,
        "hg+https://hg.example/org/tool@v1.0#egg=Org_Tool\n"
        "mylib @ svn+https://svn.example/org/mylib@main\n"
        "--editable=bzr+https://bzr.example/org/dev#egg=devpkg\n",
    )
    file = tmp_path / "requirements.txt"
    assert reqs.requirements == ()
    assert reqs.sources == ()
    assert reqs.unsupported == (
        UnsupportedLine(
            location=Location(file=file, line=1),
            text="hg+https://hg.example/org/tool@v1.0#egg=Org_Tool",
            reason=VCS,
            name=N("org-tool"),
        ),
        UnsupportedLine(
            location=Location(file=file, line=2),
            text="mylib @ svn+https://svn.example/org/mylib@main",
            reason=VCS,
            name=N("mylib"),
        ),
        UnsupportedLine(
            location=Location(file=file, line=3),
            text="--editable=bzr+https://bzr.example/org/dev#egg=devpkg",
            reason=VCS,
            name=N("devpkg"),
        ),
    )


def test_git_lines_are_sources_and_need_a_name(tmp_path: Path) -> None:
    reqs = parse(
        tmp_path,
        "tool @ git+https://u:p@git.example/org/tool@v1.0 ; sys_platform == 'linux'\n"
        "git+https://git.example/org/dev@main#egg=Dev_Pkg\n"
        "-e git+https://git.example/org/ed#egg=ed\n",
    )
    assert [(s.kind, s.name, s.target, s.marker) for s in reqs.sources] == [
        (
            "git",
            "tool",
            "git+https://u:p@git.example/org/tool@v1.0",
            Marker("sys_platform == 'linux'"),
        ),
        ("git", "dev-pkg", "git+https://git.example/org/dev@main#egg=Dev_Pkg", None),
        ("git", "ed", "git+https://git.example/org/ed#egg=ed", None),
    ]
    error = parse_error(tmp_path, "git+https://git.example/org/tool@v1.0\n")
    assert error.message.endswith("  a git URL with no project name")
    assert error.hint == (
        "write `name @ git+https://host/repo@rev`, or end the URL with `#egg=name`"
    )


def test_url_path_and_editable_lines_are_sources_relative_to_the_file(tmp_path: Path) -> None:
    app = tmp_path / "app"
    for folder in (app / "src" / "app", app / "vendor", app / "downloads"):
        folder.mkdir(parents=True)
    (app / "vendor" / "Thing-2.0.tar.gz").write_bytes(b"")
    (app / "downloads" / "other-1.0-py3-none-any.whl").write_bytes(b"")
    local = tmp_path / "srv" / "local-1.0.tar.gz"
    local.parent.mkdir()
    local.write_bytes(b"")
    reqs = parse(
        tmp_path,
        "-e ./src/app\n"
        "./vendor/Thing-2.0.tar.gz\n"
        f"downloads/other-1.0-py3-none-any.whl --hash=sha256:{HASH_B}\n"
        ".\n"
        "https://files.example/pkgs/fancy_pkg-1.2-py3-none-any.whl\n"
        "noname @ https://files.example/archive.zip ; sys_platform == 'linux'\n"
        f"local @ {local.as_uri()}\n",
        name="app/requirements.txt",
    )
    file = app / "requirements.txt"
    assert reqs.unsupported == ()
    found = [(s.kind, s.location, s.target, s.name, s.marker, set(s.hashes)) for s in reqs.sources]
    assert found == [
        ("editable", Location(file=file, line=1), str(app / "src/app"), None, None, set[str]()),
        (
            "archive",
            Location(file=file, line=2),
            str(app / "vendor/Thing-2.0.tar.gz"),
            N("thing"),
            None,
            set(),
        ),
        (
            "archive",
            Location(file=file, line=3),
            str(app / "downloads/other-1.0-py3-none-any.whl"),
            N("other"),
            None,
            {HASH_B},
        ),
        ("directory", Location(file=file, line=4), str(app), None, None, set[str]()),
        (
            "url",
            Location(file=file, line=5),
            "https://files.example/pkgs/fancy_pkg-1.2-py3-none-any.whl",
            N("fancy-pkg"),
            None,
            set(),
        ),
        (
            "url",
            Location(file=file, line=6),
            "https://files.example/archive.zip",
            N("noname"),
            Marker("sys_platform == 'linux'"),
            set(),
        ),
        ("archive", Location(file=file, line=7), str(local), N("local"), None, set[str]()),
    ]


def test_a_missing_local_path_names_the_line_and_the_folder(tmp_path: Path) -> None:
    error = parse_error(tmp_path, "six==1.17.0\n./libs/foo\n")
    assert error.message == (
        f"{tmp_path / 'requirements.txt'}:2: ./libs/foo\n"
        f"  local path not found: {tmp_path / 'libs' / 'foo'}"
    )
    assert error.hint == (
        f"a relative path is taken from the requirements file's folder ({tmp_path}); "
        "fix the path or remove the line"
    )


def test_marker_after_a_bare_url_is_read(tmp_path: Path) -> None:
    reqs = parse(
        tmp_path, 'https://files.example/x-1.0-py3-none-any.whl ; platform_machine == "aarch64"\n'
    )
    assert reqs.sources[0].marker == Marker('platform_machine == "aarch64"')


def test_invalid_marker_on_an_unsupported_line_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "x-1.0.tar.gz").write_bytes(b"")
    error = parse_error(tmp_path, "./x-1.0.tar.gz ; os_name ==\n")
    assert error.message.startswith(
        f"{tmp_path / 'requirements.txt'}:1: ./x-1.0.tar.gz ; os_name ==\n"
        "  invalid environment marker: "
    )


def test_unsupported_line_in_a_constraints_file_is_an_error(tmp_path: Path) -> None:
    write(tmp_path / "c.txt", "six @ https://files.example/six-1.17.0.tar.gz\n")
    error = parse_error(tmp_path, "-c c.txt\n")
    assert error.message == (
        f"{tmp_path / 'c.txt'}:1: six @ https://files.example/six-1.17.0.tar.gz\n"
        "  a constraint must name a project and versions, not a direct URL requirement"
    )
    assert error.hint == (
        "write `name==version` in the constraints file, or move the line to the requirements file"
    )


# --- is_fully_pinned ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "pinned"),
    [
        ("six==1.17.0\nattrs===24.2.0\n", True),
        ("six==1.17.0 ; python_version < '3.12'\nsix==1.16.0 ; python_version >= '3.12'\n", True),
        ("six==1.17.0,!=1.16\n", True),
        ("six==1.*\n", False),
        ("six>=1.17\n", False),
        ("six\n", False),
        ("six==1.17.0\nattrs\n", False),
        ("", True),
        ("git+https://github.com/org/tool#egg=tool\n", True),
    ],
)
def test_is_fully_pinned(tmp_path: Path, text: str, pinned: bool) -> None:
    assert is_fully_pinned(parse(tmp_path, text)) is pinned


def test_a_constraint_pin_without_marker_pins_a_range(tmp_path: Path) -> None:
    write(tmp_path / "c.txt", "six==1.17.0\nattrs==24.2.0 ; sys_platform == 'linux'\n")
    assert is_fully_pinned(parse(tmp_path, "six>=1\n-c c.txt\n"))
    assert not is_fully_pinned(parse(tmp_path, "attrs>=20\n-c c.txt\n"))


# --- pins_for_target ----------------------------------------------------------------


def test_pins_follow_the_target_markers(tmp_path: Path) -> None:
    reqs = parse(
        tmp_path,
        "psutil==6.1.1\n"
        "RPi.GPIO==0.7.1 ; platform_machine == 'aarch64'\n"
        "pywin32==308 ; sys_platform == 'win32'\n"
        "tomli==2.2.1 ; python_version < '3.12'\n"
        "extra-only==1.0 ; extra == 'x'\n",
    )
    file = tmp_path / "requirements.txt"
    arm_pins, warnings = pins_for_target(reqs, ARM)
    assert arm_pins == (
        Pin(name=N("psutil"), version=Version("6.1.1"), location=Location(file=file, line=1)),
        Pin(name=N("rpi-gpio"), version=Version("0.7.1"), location=Location(file=file, line=2)),
    )
    assert warnings == ()
    x86_pins, _ = pins_for_target(reqs, X86)
    assert [(p.name, str(p.version)) for p in x86_pins] == [
        ("psutil", "6.1.1"),
        ("tomli", "2.2.1"),
    ]


def test_duplicates_merge_and_hashes_intersect(tmp_path: Path) -> None:
    reqs = parse(
        tmp_path,
        f"six==1.17.0 --hash=sha256:{HASH_A} --hash=sha256:{HASH_B}\n"
        f"SIX[extra]==1.17.0 --hash=sha256:{HASH_B} --hash=sha256:{HASH_C}\n"
        "Six===1.17.0\n",
    )
    pins, warnings = pins_for_target(reqs, ARM)
    assert pins == (
        Pin(
            name=N("six"),
            version=Version("1.17.0"),
            hashes=frozenset({HASH_B}),
            location=Location(file=tmp_path / "requirements.txt", line=1),
            extras=frozenset({"extra"}),
        ),
    )
    assert warnings == ()


def test_disjoint_hashes_warn_and_keep_all(tmp_path: Path) -> None:
    file = tmp_path / "requirements.txt"
    reqs = parse(
        tmp_path, f"six==1.17.0 --hash=sha256:{HASH_A}\nsix==1.17.0 --hash=sha256:{HASH_B}\n"
    )
    pins, warnings = pins_for_target(reqs, ARM)
    assert pins[0].hashes == {HASH_A, HASH_B}
    assert warnings == (
        f"six: {file}:1 (six==1.17.0 --hash=sha256:{HASH_A}), "
        f"{file}:2 (six==1.17.0 --hash=sha256:{HASH_B}) list disjoint --hash sets "
        "(pip would refuse to install); wheelhouse accepts a file matching any of them",
    )


def test_conflicting_versions_are_an_error(tmp_path: Path) -> None:
    file = tmp_path / "requirements.txt"
    reqs = parse(tmp_path, "six==1.17.0\nattrs==24.2.0\nsix==1.16.0\n")
    with pytest.raises(RequirementsError) as info:
        pins_for_target(reqs, ARM)
    assert info.value.message == (
        f"six: conflicting versions: {file}:1 (six==1.17.0), {file}:3 (six==1.16.0)"
    )
    assert info.value.hint == "keep one version of six: edit or remove the conflicting lines"


def test_duplicates_split_by_markers_do_not_conflict(tmp_path: Path) -> None:
    reqs = parse(
        tmp_path,
        "numpy==1.26.4 ; python_version < '3.12'\nnumpy==2.1.3 ; python_version >= '3.12'\n",
    )
    assert [str(p.version) for p in pins_for_target(reqs, ARM)[0]] == ["2.1.3"]
    assert [str(p.version) for p in pins_for_target(reqs, X86)[0]] == ["1.26.4"]


def test_constraints_fix_ranges_and_bring_hashes(tmp_path: Path) -> None:
    write(
        tmp_path / "c.txt",
        f"six==1.17.0 --hash=sha256:{HASH_A}\n"
        "attrs==23.1.0 ; platform_machine == 'x86_64'\n"
        "attrs==24.2.0 ; platform_machine != 'x86_64'\n"
        "unrelated==1.0\n",
    )
    reqs = parse(tmp_path, "six>=1.16\nattrs\n-c c.txt\n")
    pins, warnings = pins_for_target(reqs, ARM)
    assert [
        (p.name, str(p.version), p.hashes, p.location.line if p.location else 0) for p in pins
    ] == [
        ("six", "1.17.0", {HASH_A}, 1),
        ("attrs", "24.2.0", frozenset(), 2),
    ]
    assert warnings == ()
    assert [str(p.version) for p in pins_for_target(reqs, X86)[0]] == ["1.17.0", "23.1.0"]


def test_constraint_outside_the_requirement_range_is_a_conflict(tmp_path: Path) -> None:
    write(tmp_path / "c.txt", "six==1.16.0\n")
    reqs = parse(tmp_path, "six>=1.17\n-c c.txt\n")
    with pytest.raises(RequirementsError) as info:
        pins_for_target(reqs, ARM)
    assert info.value.message == (
        f"six: conflicting versions: {tmp_path / 'requirements.txt'}:1 (six>=1.17), "
        f"{tmp_path / 'c.txt'}:1 (six==1.16.0)"
    )


def test_unpinned_requirement_is_a_programming_error(tmp_path: Path) -> None:
    reqs = parse(tmp_path, "six==1.17.0\nattrs>=20\n")
    with pytest.raises(ValueError, match=r"requirements.txt:2: attrs>=20 is not pinned"):
        pins_for_target(reqs, ARM)


def test_wildcard_is_not_a_pin(tmp_path: Path) -> None:
    reqs = parse(tmp_path, "six==1.*\n")
    with pytest.raises(ValueError, match="is not pinned"):
        pins_for_target(reqs, ARM)


def test_arbitrary_equality_that_is_not_a_version_is_an_error(tmp_path: Path) -> None:
    reqs = parse(tmp_path, "six===foobar\n")
    with pytest.raises(RequirementsError) as info:
        pins_for_target(reqs, ARM)
    assert info.value.message == (
        f"{tmp_path / 'requirements.txt'}:1: six===foobar\n  ===foobar is not a PEP 440 version"
    )


def test_force_build_marks_pins_by_normalized_name(tmp_path: Path) -> None:
    reqs = parse(tmp_path, "cffi==1.17.1\nsix==1.17.0\n")
    pins, _ = pins_for_target(reqs, ARM, force_build=frozenset({"CFFI"}))
    assert [(p.name, p.force_build) for p in pins] == [("cffi", True), ("six", False)]


def test_unsupported_lines_become_pins_without_version(tmp_path: Path) -> None:
    file = tmp_path / "requirements.txt"
    reqs = parse(
        tmp_path,
        "six==1.17.0\n"
        "hg+https://hg.example/org/tool@v1#egg=tool ; platform_machine == 'x86_64'\n"
        "hg+https://hg.example/x\n",
    )
    pins, _ = pins_for_target(reqs, ARM)
    assert pins == (
        Pin(name=N("six"), version=Version("1.17.0"), location=Location(file=file, line=1)),
        Pin(
            name=N("hg+https://hg.example/x"),  # no name to parse: the text stands in
            version=None,
            location=Location(file=file, line=3),
            unsupported=VCS,
        ),
    )
    x86_pins, _ = pins_for_target(reqs, X86, force_build=frozenset({"Tool"}))
    assert [(p.name, p.unsupported, p.force_build) for p in x86_pins] == [
        ("six", None, False),
        ("tool", VCS, True),
        ("hg+https://hg.example/x", VCS, False),
    ]


def test_a_name_both_pinned_and_unsupported_warns(tmp_path: Path) -> None:
    file = tmp_path / "requirements.txt"
    reqs = parse(tmp_path, "six==1.17.0\nsix @ hg+https://hg.example/six@1.17.0\n")
    pins, warnings = pins_for_target(reqs, ARM)
    assert [(p.name, p.version) for p in pins] == [("six", Version("1.17.0")), ("six", None)]
    assert warnings == (
        f"six: {file}:2 (six @ hg+https://hg.example/six@1.17.0) and {file}:1 "
        "both name it; pip would refuse both",
    )


def test_a_home_directory_of_no_user_is_the_lines_error(tmp_path: Path) -> None:
    """Found by scripts/fuzz_inputs.py: RuntimeError from Path.expanduser, a traceback."""
    error = parse_error(tmp_path, "~wheelhouse-no-such-user/libs/foo\n")
    assert error.message == (
        f"{tmp_path / 'requirements.txt'}:1: ~wheelhouse-no-such-user/libs/foo\n"
        "  ~wheelhouse-no-such-user/libs/foo: no home directory for ~wheelhouse-no-such-user"
    )
    assert error.hint == "fix the user name or write the path out"
