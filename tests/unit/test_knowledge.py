"""The packaged system packages file, its validation, and wheelhouse.yaml overrides."""

from __future__ import annotations

import re
from dataclasses import replace
from importlib import resources
from pathlib import Path

import pytest
from packaging.utils import NormalizedName, canonicalize_name

from orchestrator.config import PackageConfig
from orchestrator.errors import ConfigError
from orchestrator.knowledge import (
    DATA_FILE,
    PACKAGED_SOURCE,
    Knowledge,
    PackageKnowledge,
    Providers,
    RuntimeNeeds,
    load_knowledge,
    parse_knowledge,
)

#: Debian policy for package names (Alpine's are a subset in practice).
PACKAGE_NAME = re.compile(r"[a-z0-9][a-z0-9+.-]+")

MINIMAL = """\
toolchain: {apt: [gcc], apk: [build-base]}
rust_toolchain: {apt: [cargo, rustc], apk: [cargo, rust]}
"""


def n(name: str) -> NormalizedName:
    return canonicalize_name(name)


def parse(text: str) -> Knowledge:
    return parse_knowledge(text, "k.yaml")


def config_error(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse(text)
    return caught.value


# --- the packaged file -----------------------------------------------------------------------


def test_the_data_file_ships_inside_the_package() -> None:
    assert resources.files("orchestrator").joinpath("data", DATA_FILE).is_file()


def test_the_packaged_file_loads_with_the_base_toolchains() -> None:
    knowledge = load_knowledge()
    assert knowledge.toolchain_for("apt") == ("gcc", "g++", "make", "libc6-dev", "patch")
    assert knowledge.toolchain_for("apk") == ("build-base", "linux-headers")
    assert knowledge.toolchain_for("none") == ()
    assert knowledge.rust_toolchain == {"apt": ("cargo", "rustc"), "apk": ("cargo", "rust")}


def test_the_packaged_file_is_read_once() -> None:
    assert load_knowledge() is load_knowledge()


@pytest.mark.parametrize(
    "name",
    [
        "cffi", "psycopg2", "psycopg", "uwsgi", "lxml", "pillow", "python-ldap", "mysqlclient",
        "psutil", "netifaces", "rpi-gpio", "evdev", "pycairo", "pygobject", "cryptography",
        "bcrypt", "numpy", "scipy", "pyyaml", "gevent", "greenlet", "pyzmq", "grpcio",
        "pynacl", "ruamel-yaml-clib", "msgpack", "uvloop", "httptools", "aiohttp", "orjson",
        "pydantic-core",
    ],
)  # fmt: skip
def test_the_packaged_file_knows_the_popular_source_builds(name: str) -> None:
    assert n(name) in load_knowledge().packages


def test_every_package_list_holds_plain_package_names() -> None:
    knowledge = load_knowledge()
    lists: list[tuple[str, ...]] = [
        *knowledge.toolchain.values(),
        *knowledge.rust_toolchain.values(),
    ]
    for entry in knowledge.packages.values():
        lists += [entry.apt, entry.apk, entry.runtime_apt, entry.runtime_apk]
    for section in (knowledge.headers, knowledge.pkg_config, knowledge.libraries):
        lists += [p for providers in section.values() for p in (providers.apt, providers.apk)]
    for providers in (*knowledge.commands.values(), *knowledge.build_requirements.values()):
        lists += [providers.apt, providers.apk]
    for names in lists:
        assert isinstance(names, tuple)
        for name in names:
            assert isinstance(name, str)
            # A runtime package of the target's Python (libpython${PYTHON_VERSION}) is
            # named once the version is known.
            assert PACKAGE_NAME.fullmatch(name.replace("${PYTHON_VERSION}", "3.11")), name


def test_every_packaged_entry_is_keyed_by_its_normalized_name() -> None:
    for name in load_knowledge().packages:
        assert name == canonicalize_name(name)


def test_rust_packages_get_the_rust_toolchain_per_manager() -> None:
    knowledge = load_knowledge()
    assert knowledge.packages[n("cryptography")].rust
    assert knowledge.build_packages(n("cryptography"), "apt") == (
        "libssl-dev", "libffi-dev", "pkgconf", "cargo", "rustc",
    )  # fmt: skip
    assert knowledge.build_packages(n("bcrypt"), "apk") == ("cargo", "rust")
    assert knowledge.build_packages(n("cryptography"), "none") == ()


def test_build_and_runtime_packages_follow_the_manager() -> None:
    knowledge = load_knowledge()
    assert knowledge.build_packages(n("psycopg2"), "apt") == ("libpq-dev",)
    assert knowledge.build_packages(n("psycopg2"), "apk") == ("libpq-dev",)
    assert knowledge.runtime_packages(n("psycopg2"), "apt") == ("libpq5",)
    assert knowledge.runtime_packages(n("psycopg2"), "apk") == ("libpq",)
    assert knowledge.runtime_packages(n("psycopg2"), "none") == ()
    assert not knowledge.packages[n("psycopg2")].emulate_only  # cross-compiled (issue 18)
    # It cross-compiles, but imports only after psycopg, which the target check lacks.
    assert knowledge.packages[n("psycopg-c")].emulate_only
    assert knowledge.packages[n("gevent")].emulate_only
    # Cross-compiled: its binary keeps libpython (auditwheel --exclude), a runtime package.
    uwsgi = knowledge.packages[n("uwsgi")]
    assert not uwsgi.emulate_only
    assert knowledge.system_libraries(n("uwsgi")) == ("libpython3.*.so.1.0",)
    assert knowledge.runtime_packages(n("uwsgi"), "apt") == ("libpython${PYTHON_VERSION}",)
    assert knowledge.runtime_packages(n("uwsgi"), "none") == ()


def test_an_unknown_package_needs_nothing_beyond_the_toolchain() -> None:
    knowledge = load_knowledge()
    assert knowledge.build_packages(n("no-such-package"), "apt") == ()
    assert knowledge.runtime_packages(n("no-such-package"), "apk") == ()


def test_headers_match_exactly_then_by_the_deepest_directory() -> None:
    knowledge = load_knowledge()
    assert knowledge.header("libpq-fe.h") == Providers(apt=("libpq-dev",), apk=("libpq-dev",))
    assert knowledge.header("linux/spi/spidev.h") == Providers(
        apt=("linux-libc-dev",), apk=("linux-headers",)
    )
    assert knowledge.header("openssl/ssl.h") == Providers(apt=("libssl-dev",), apk=("openssl-dev",))
    assert knowledge.header("nosuch.h") is None
    assert knowledge.header("nosuch/thing.h") is None


def test_pkg_config_modules_are_keyed_in_lower_case() -> None:
    knowledge = parse(MINIMAL + "pkg_config:\n  OpenBLAS: {apt: [libopenblas-dev]}\n")
    assert knowledge.pkg_config == {"openblas": Providers(apt=("libopenblas-dev",))}


def test_build_requirements_are_keyed_by_normalized_name() -> None:
    knowledge = parse(MINIMAL + "build_requirements:\n  Ninja_Build: {apt: [ninja-build]}\n")
    assert set(knowledge.build_requirements) == {"ninja-build"}


# --- overrides from wheelhouse.yaml ----------------------------------------------------------

BASE = parse(
    MINIMAL
    + """\
packages:
  psycopg2:
    apt: [libpq-dev]
    apk: [libpq-dev]
    runtime_apt: [libpq5]
    runtime_apk: [libpq]
    emulate_only: true
    notes: Runs pg_config.
  cryptography:
    apt: [libssl-dev]
    rust: true
"""
)


def test_a_non_empty_user_list_replaces_the_file_list_for_that_manager_only() -> None:
    merged = BASE.with_overrides({n("psycopg2"): PackageConfig(apt=("libpq-dev", "libssl-dev"))})
    entry = merged.packages[n("psycopg2")]
    assert entry.apt == ("libpq-dev", "libssl-dev")
    assert entry.apk == ("libpq-dev",)
    assert entry.runtime_apt == ("libpq5",)
    assert entry.runtime_apk == ("libpq",)
    assert entry.emulate_only
    assert entry.notes == "Runs pg_config."


def test_runtime_lists_override_the_same_way() -> None:
    merged = BASE.with_overrides({n("psycopg2"): PackageConfig(runtime_apk=("libpq", "krb5"))})
    assert merged.runtime_packages(n("psycopg2"), "apk") == ("libpq", "krb5")
    assert merged.build_packages(n("psycopg2"), "apk") == ("libpq-dev",)


def test_an_override_keeps_the_rust_flag_of_the_file() -> None:
    merged = BASE.with_overrides({n("cryptography"): PackageConfig(apt=("libssl-dev", "pkgconf"))})
    assert merged.build_packages(n("cryptography"), "apt") == (
        "libssl-dev", "pkgconf", "cargo", "rustc",
    )  # fmt: skip


def test_an_entry_for_an_unknown_package_adds_it() -> None:
    merged = BASE.with_overrides({n("mypkg"): PackageConfig(apk=("zeromq-dev",))})
    assert merged.packages[n("mypkg")] == PackageKnowledge(apk=("zeromq-dev",))
    assert merged.build_packages(n("mypkg"), "apk") == ("zeromq-dev",)
    assert merged.build_packages(n("mypkg"), "apt") == ()


def test_an_override_with_no_lists_changes_nothing() -> None:
    merged = BASE.with_overrides({n("psycopg2"): PackageConfig(verify_import=False)})
    assert merged.packages[n("psycopg2")] == BASE.packages[n("psycopg2")]


def test_overrides_leave_the_original_knowledge_alone() -> None:
    BASE.with_overrides({n("psycopg2"): PackageConfig(apt=("other",)), n("new"): PackageConfig()})
    assert BASE.packages[n("psycopg2")].apt == ("libpq-dev",)
    assert n("new") not in BASE.packages


def test_overrides_keep_the_other_sections() -> None:
    merged = BASE.with_overrides({n("x"): PackageConfig(apt=("y",))})
    assert merged.toolchain == BASE.toolchain
    assert merged.rust_toolchain == BASE.rust_toolchain


def test_knowledge_mappings_are_read_only() -> None:
    with pytest.raises(TypeError):
        BASE.packages[n("x")] = PackageKnowledge()  # type: ignore[index]


# --- loading and validation ------------------------------------------------------------------


def test_load_knowledge_reads_a_given_file(tmp_path: Path) -> None:
    path = tmp_path / "k.yaml"
    path.write_text(MINIMAL + "packages:\n  cffi: {apt: [libffi-dev]}\n", encoding="utf-8")
    knowledge = load_knowledge(path)
    assert knowledge.build_packages(n("cffi"), "apt") == ("libffi-dev",)
    assert replace(knowledge, packages={}).packages == {}


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"system packages file not found: .*nope\.yaml"):
        load_knowledge(tmp_path / "nope.yaml")


def test_an_unknown_top_level_key_is_rejected_with_a_suggestion() -> None:
    error = config_error(MINIMAL + "pakages: {}\n")
    assert error.message == "k.yaml: pakages: unknown key"
    assert error.hint == "did you mean `packages`?"


def test_an_unknown_key_in_a_package_names_its_path() -> None:
    error = config_error(MINIMAL + "packages:\n  psycopg2:\n    aptt: [libpq-dev]\n")
    assert error.message == "k.yaml: packages.psycopg2.aptt: unknown key"
    assert error.hint == "did you mean `apt`?"


def test_an_unknown_key_in_a_provider_section_names_its_path() -> None:
    error = config_error(MINIMAL + "headers:\n  ffi.h: {apt: [libffi-dev], yum: [libffi]}\n")
    assert error.message == "k.yaml: headers.ffi.h.yum: unknown key"
    assert error.hint == "known keys here: apk, apt"


def test_an_unknown_manager_in_the_toolchain_is_rejected() -> None:
    error = config_error("toolchain: {apt: [gcc], dnf: [gcc]}\nrust_toolchain: {}\n")
    assert error.message == "k.yaml: toolchain.dnf: unknown key"


def test_a_list_item_that_is_not_a_name_is_named_by_index() -> None:
    error = config_error(MINIMAL + "packages:\n  lxml:\n    apt: [libxml2-dev, 3]\n")
    assert error.message == "k.yaml: packages.lxml.apt[1]: expected one package name, got 3"


def test_two_names_in_one_item_are_rejected() -> None:
    error = config_error(MINIMAL + "packages:\n  lxml:\n    apk: ['libxml2-dev libxslt-dev']\n")
    assert error.message == (
        "k.yaml: packages.lxml.apk[0]: expected one package name, got 'libxml2-dev libxslt-dev'"
    )


def test_a_string_instead_of_a_list_is_rejected() -> None:
    error = config_error(MINIMAL + "packages:\n  lxml:\n    apt: libxml2-dev\n")
    assert error.message == (
        "k.yaml: packages.lxml.apt: expected a list of package names, got 'libxml2-dev'"
    )


def test_flags_must_be_booleans() -> None:
    error = config_error(MINIMAL + "packages:\n  bcrypt:\n    rust: yes please\n")
    assert error.message == "k.yaml: packages.bcrypt.rust: expected true or false, got 'yes please'"


def test_notes_must_be_text() -> None:
    error = config_error(MINIMAL + "packages:\n  bcrypt:\n    notes: [a]\n")
    assert error.message == "k.yaml: packages.bcrypt.notes: expected text, got ['a']"


def test_package_names_must_be_normalized() -> None:
    error = config_error(MINIMAL + "packages:\n  RPi.GPIO: {apt: [linux-libc-dev]}\n")
    assert error.message == "k.yaml: packages.RPi.GPIO: not a normalized (PEP 503) name"
    assert error.hint == "write `rpi-gpio`"


def test_a_package_entry_must_be_a_mapping() -> None:
    error = config_error(MINIMAL + "packages:\n  cffi: [libffi-dev]\n")
    assert error.message == "k.yaml: packages.cffi: expected a mapping of keys"


def test_a_provider_entry_must_name_a_package() -> None:
    error = config_error(MINIMAL + "commands:\n  gcc: {}\n")
    assert error.message == "k.yaml: commands.gcc: names no package"


def test_the_toolchains_are_required() -> None:
    error = config_error("rust_toolchain: {apt: [cargo]}\n")
    assert error.message == "k.yaml: toolchain: missing"


def test_a_duplicate_key_is_reported_with_its_line() -> None:
    error = config_error(MINIMAL + "packages:\n  cffi: {apt: [a]}\n  cffi: {apt: [b]}\n")
    assert error.message == "k.yaml:5: key 'cffi' appears twice"


def test_invalid_yaml_is_reported_with_its_line() -> None:
    error = config_error(MINIMAL + "packages:\n  cffi: {apt: [a]}\n lxml: {}\n")
    assert error.message.startswith("k.yaml:5: not valid YAML:")
    assert error.hint == "fix the YAML syntax"


def test_errors_in_the_packaged_file_name_it() -> None:
    assert PACKAGED_SOURCE == "orchestrator/data/system-packages.yaml"


# --- verify defaults: test and imports --------------------------------------------------------


def test_uwsgi_is_verified_by_running_its_binary_not_by_importing_uwsgidecorators() -> None:
    uwsgi = load_knowledge().packages[n("uwsgi")]
    assert (uwsgi.test, uwsgi.imports) == ("uwsgi --version", ())


def test_an_entry_without_test_or_imports_keeps_verifys_guess() -> None:
    entry = parse(MINIMAL + "packages:\n  foo:\n    apt: [libfoo-dev]\n").packages[n("foo")]
    assert (entry.test, entry.imports) == (None, None)


@pytest.mark.parametrize(
    ("entry", "where", "hint"),
    [
        ("test: 3", "packages.foo.test", "a sentence"),
        ("test: ''", "packages.foo.test", "a shell command, e.g. uwsgi --version"),
        ("imports: yaml", "packages.foo.imports", "[] for none"),
        ("imports: [yaml, 2x]", "packages.foo.imports[1]", "[] for none"),
    ],
)
def test_bad_test_or_imports_name_the_field(entry: str, where: str, hint: str) -> None:
    error = config_error(MINIMAL + f"packages:\n  foo:\n    {entry}\n")
    assert f"k.yaml: {where}" in str(error)
    assert error.hint is not None and hint in error.hint


# --- system_libraries: what the runtime image provides ------------------------------------


def test_pyalsaaudio_leaves_libasound_to_the_system_and_names_its_packages() -> None:
    knowledge = load_knowledge()
    assert knowledge.build_packages(n("pyalsaaudio"), "apt") == ("libasound2-dev",)
    assert knowledge.build_packages(n("pyalsaaudio"), "apk") == ("alsa-lib-dev",)
    assert knowledge.system_libraries(n("pyalsaaudio")) == ("libasound.so.2",)
    assert knowledge.runtime_needs(n("pyalsaaudio"), "apt") == RuntimeNeeds(
        libraries=("libasound.so.2",), packages=("libasound2",)
    )
    assert knowledge.runtime_needs(n("pyalsaaudio"), "apk").packages == ("alsa-lib",)
    # No package manager: the image must bring the library itself.
    assert knowledge.runtime_needs(n("pyalsaaudio"), "none") == RuntimeNeeds(
        libraries=("libasound.so.2",)
    )


def test_a_library_auditwheel_copies_into_the_wheel_needs_nothing_at_run_time() -> None:
    knowledge = load_knowledge()
    assert knowledge.runtime_packages(n("psycopg2"), "apt") == ("libpq5",)
    assert knowledge.runtime_needs(n("psycopg2"), "apt") == RuntimeNeeds()
    assert knowledge.runtime_needs(n("not-listed"), "apt") == RuntimeNeeds()


def test_system_libraries_parse_in_order_without_duplicates() -> None:
    knowledge = parse(
        MINIMAL
        + "packages:\n  alsa:\n    runtime_apt: [libasound2]\n"
        + "    system_libraries: [libasound.so.2, libfoo.so.*, libasound.so.2]\n"
    )
    assert knowledge.system_libraries(n("alsa")) == ("libasound.so.2", "libfoo.so.*")


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("[asound]", "packages.alsa.system_libraries[0]: not a soname: 'asound'"),
        ("['libasound.so.2 libx.so']", "not a soname: 'libasound.so.2 libx.so'"),
        ('["libasound.so.2\\n"]', "not a soname: 'libasound.so.2\\n'"),
        ("libasound.so.2", "packages.alsa.system_libraries: expected a list of sonames"),
    ],
)
def test_a_bad_soname_is_named_by_its_path(value: str, problem: str) -> None:
    error = config_error(
        MINIMAL + f"packages:\n  alsa:\n    runtime_apt: [x]\n    system_libraries: {value}\n"
    )
    assert problem in error.message
    assert error.hint is not None and "libasound.so.2" in error.hint


def test_system_libraries_without_a_runtime_package_are_rejected() -> None:
    error = config_error(MINIMAL + "packages:\n  alsa:\n    system_libraries: [libasound.so.2]\n")
    assert error.message == (
        "k.yaml: packages.alsa.system_libraries: names libraries the runtime image must "
        "provide, but no runtime package"
    )
    assert error.hint == "add runtime_apt and runtime_apk: the packages that ship them"


def test_wheelhouse_yaml_can_leave_a_library_to_the_system() -> None:
    merged = BASE.with_overrides(
        {
            n("psycopg2"): PackageConfig(system_libraries=("libpq.so.5",)),
        }
    )
    assert merged.runtime_needs(n("psycopg2"), "apt") == RuntimeNeeds(
        libraries=("libpq.so.5",), packages=("libpq5",)
    )
