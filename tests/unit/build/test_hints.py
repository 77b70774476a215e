"""suggest() on real build log wording (from psycopg2, lxml, Pillow, cryptography, scipy,
mysqlclient, pip and meson issue threads), with the exact wheelhouse.yaml it proposes."""

from __future__ import annotations

from dataclasses import replace

import pytest
from packaging.utils import NormalizedName, canonicalize_name

from orchestrator.build.hints import Hint, suggest
from orchestrator.config import PackageConfig, PackageManager
from orchestrator.knowledge import Knowledge, load_knowledge

#: The packaged tables with no package entries: every build looks like an unknown package.
BARE: Knowledge = replace(load_knowledge(), packages={})


def n(name: str) -> NormalizedName:
    return canonicalize_name(name)


def hint(log: str, name: str, manager: PackageManager, knowledge: Knowledge = BARE) -> Hint:
    found = suggest(log, n(name), manager, knowledge=knowledge)
    assert found is not None, f"no hint for {log!r}"
    return found


def snippet(name: str, manager: str, *packages: str) -> str:
    return f"packages:\n  {name}:\n    {manager}: [{', '.join(packages)}]"


# --- psycopg2: pg_config ----------------------------------------------------------------------

PSYCOPG2_LOG = """\
    running egg_info
    writing manifest file '/tmp/pip-pip-egg-info-bqn353eu/psycopg2.egg-info/SOURCES.txt'

    Error: pg_config executable not found.

    pg_config is required to build psycopg2 from source.  Please add the directory
    containing pg_config to the $PATH or specify the full executable path with the
    option:

        python setup.py build_ext --pg-config /path/to/pg_config build ...

    or with the pg_config option in 'setup.cfg'.
"""


def test_pg_config_not_found_suggests_libpq_dev_for_apt() -> None:
    found = hint(PSYCOPG2_LOG, "psycopg2", "apt")
    assert found == Hint(
        problem="psycopg2: the build runs `pg_config`, which is not installed; "
        "libpq-dev (apt) provides it",
        packages=("libpq-dev",),
        snippet="packages:\n  psycopg2:\n    apt: [libpq-dev]",
    )


def test_pg_config_not_found_suggests_libpq_dev_for_apk() -> None:
    found = hint(PSYCOPG2_LOG, "psycopg2", "apk")
    assert found.packages == ("libpq-dev",)
    assert found.snippet == "packages:\n  psycopg2:\n    apk: [libpq-dev]"


def test_a_target_without_package_manager_gets_an_explanation_not_a_packages_entry() -> None:
    found = hint(PSYCOPG2_LOG, "psycopg2", "none")
    assert found.problem == (
        "psycopg2: the build runs `pg_config`, which is not installed. This target's "
        "package_manager is none, so wheelhouse installs no system packages: its base_image "
        "must provide it"
    )
    assert found.packages == ()
    assert found.snippet == (
        "# package_manager: none -- wheelhouse installs no system packages for this target.\n"
        "# Build its base_image with `pg_config` (Debian: libpq-dev; Alpine: libpq-dev),\n"
        "# or set package_manager: apt or apk on the target so wheelhouse can add it."
    )
    assert "system_packages" not in found.snippet


def test_a_package_the_file_already_covers_gets_no_snippet() -> None:
    found = hint(PSYCOPG2_LOG, "psycopg2", "apt", knowledge=load_knowledge())
    assert found == Hint(
        problem="psycopg2: the build runs `pg_config`, which is not installed, yet wheelhouse "
        "already installs libpq-dev (apt) for this build: check that the toolchain stage "
        "installed it and that the base image's package sources carry it",
        packages=("libpq-dev",),
        snippet="",
    )


# --- missing headers ----------------------------------------------------------------------------


def gcc_missing(header: str) -> str:
    return f"src/ext.c:12:10: fatal error: {header}: No such file or directory"


@pytest.mark.parametrize(
    ("line", "apt", "apk"),
    [
        (gcc_missing("libpq-fe.h"), "libpq-dev", "libpq-dev"),
        (gcc_missing("ffi.h"), "libffi-dev", "libffi-dev"),
        (gcc_missing("Python.h"), "python3-dev", "python3-dev"),
        (gcc_missing("openssl/ssl.h"), "libssl-dev", "openssl-dev"),
        (gcc_missing("jpeglib.h"), "libjpeg62-turbo-dev", "libjpeg-turbo-dev"),
        (gcc_missing("zlib.h"), "zlib1g-dev", "zlib-dev"),
        (gcc_missing("yaml.h"), "libyaml-dev", "yaml-dev"),
        (gcc_missing("sql.h"), "unixodbc-dev", "unixodbc-dev"),
        (
            "src/lxml/includes/etree_defs.h:14:31: fatal error: libxml/xmlversion.h: "
            "No such file or directory",
            "libxml2-dev",
            "libxml2-dev",
        ),
        # Translated messages keep the "fatal error: <header>: " shape.
        (
            "etree_defs.h:14:31: fatal error: libxml/xmlversion.h: "
            "Aucun fichier ou dossier de ce type",
            "libxml2-dev",
            "libxml2-dev",
        ),
        # clang
        (
            "psycopg/psycopg.h:36:10: fatal error: 'libpq-fe.h' file not found",
            "libpq-dev",
            "libpq-dev",
        ),
    ],
)
def test_a_missing_header_maps_to_the_package_that_ships_it(line: str, apt: str, apk: str) -> None:
    log = f"building 'ext' extension\n{line}\ncompilation terminated.\n"
    assert hint(log, "mypkg", "apt").snippet == snippet("mypkg", "apt", apt)
    assert hint(log, "mypkg", "apk").snippet == snippet("mypkg", "apk", apk)


def test_a_missing_linux_header() -> None:
    log = "source/c_gpio.c:27:10: fatal error: linux/i2c-dev.h: No such file or directory\n"
    assert hint(log, "smbus2", "apt").snippet == snippet("smbus2", "apt", "linux-libc-dev")
    # The apk toolchain already has linux-headers: a config entry would change nothing.
    found = hint(log, "smbus2", "apk")
    assert found.packages == ("linux-headers",)
    assert found.snippet == ""


def test_the_missing_header_problem_names_the_header() -> None:
    found = hint(
        "x.c:1:10: fatal error: libpq-fe.h: No such file or directory\n", "psycopg2", "apt"
    )
    assert (
        found.problem == "psycopg2: the C header libpq-fe.h is missing; libpq-dev (apt) provides it"
    )


def test_an_unknown_header_says_where_to_look() -> None:
    found = hint("x.c:1:10: fatal error: frobnicate.h: No such file or directory\n", "mypkg", "apt")
    assert found.problem == (
        "mypkg: the C header frobnicate.h is missing. No package that provides it is known: find "
        "the -dev package that ships frobnicate.h (packages.debian.org (search the contents of "
        "packages); pkgs.alpinelinux.org/contents) and list it under packages: in wheelhouse.yaml"
    )
    assert found.packages == ()
    assert found.snippet == ""


def test_a_header_only_one_manager_ships_is_unknown_for_the_other() -> None:
    log = "x.c:1:10: fatal error: systemd/sd-daemon.h: No such file or directory\n"
    assert hint(log, "systemd-python", "apt").snippet == snippet(
        "systemd-python", "apt", "libsystemd-dev"
    )
    found = hint(log, "systemd-python", "apk")
    assert found == Hint(
        problem="systemd-python: the C header systemd/sd-daemon.h is missing (apk has no known "
        "package for it). No package that provides it is known: find the package that ships "
        "systemd/sd-daemon.h (packages.debian.org (search the contents of packages); "
        "pkgs.alpinelinux.org/contents) and list it under packages: in wheelhouse.yaml",
        packages=(),
        snippet="",
    )


def test_the_snippet_keeps_the_packages_already_listed_for_the_package() -> None:
    # A user list replaces the file's list, so the snippet must repeat libpq-dev.
    log = "x.c:1:10: fatal error: ffi.h: No such file or directory\n"
    found = hint(log, "psycopg2", "apt", knowledge=load_knowledge())
    assert found.packages == ("libffi-dev",)
    assert found.snippet == snippet("psycopg2", "apt", "libpq-dev", "libffi-dev")


def test_the_snippet_keeps_the_users_own_overrides() -> None:
    knowledge = load_knowledge().with_overrides(
        {n("psycopg2"): PackageConfig(apk=("libpq-dev", "krb5-dev"))}
    )
    log = "x.c:1:10: fatal error: ffi.h: No such file or directory\n"
    found = hint(log, "psycopg2", "apk", knowledge=knowledge)
    assert found.snippet == snippet("psycopg2", "apk", "libpq-dev", "krb5-dev", "libffi-dev")


# --- compilers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "log",
    [
        "building 'netifaces' extension\nerror: command 'gcc' failed: No such file or directory\n",
        "error: command '/usr/bin/x86_64-linux-gnu-gcc' failed: No such file or directory\n",
        "unable to execute 'gcc': No such file or directory\n"
        "error: command 'gcc' failed with exit status 1\n",
        "Exception: you need a C compiler to build uWSGI\n",
        "configure: error: no acceptable C compiler found in $PATH\n",
        "  = note: error: linker `cc` not found\n",
        "../meson.build:1:0: ERROR: Unknown compiler(s): "
        "[['cc'], ['gcc'], ['clang'], ['nvc'], ['pgcc'], ['icc'], ['icx']]\n",
        "CMake Error at CMakeLists.txt:2 (project):\n  No CMAKE_C_COMPILER could be found.\n",
        "FileNotFoundError: [Errno 2] No such file or directory: 'gcc'\n",
    ],
)
def test_a_missing_c_compiler(log: str) -> None:
    # The toolchain stage installs the compiler for apt and apk targets: no entry helps.
    assert hint(log, "netifaces", "apt").packages == ("gcc", "libc6-dev")
    assert hint(log, "netifaces", "apk").packages == ("build-base",)
    assert hint(log, "netifaces", "apk").snippet == ""
    found = hint(log, "netifaces", "none")
    assert found.snippet.splitlines()[1].endswith(" (Debian: gcc libc6-dev; Alpine: build-base),")


def test_the_missing_compiler_problem_names_the_language() -> None:
    found = hint("error: command 'gcc' failed: No such file or directory\n", "netifaces", "apt")
    assert found.problem == (
        "netifaces: the build needs a C compiler (gcc) and the image has none, yet wheelhouse "
        "already installs gcc, libc6-dev (apt) for this build: check that the toolchain stage "
        "installed them and that the base image's package sources carry them"
    )
    assert found.snippet == ""


def test_a_missing_compiler_on_a_target_without_package_manager() -> None:
    found = hint("unable to execute 'gcc': No such file or directory\n", "netifaces", "none")
    assert found.snippet == (
        "# package_manager: none -- wheelhouse installs no system packages for this target.\n"
        "# Build its base_image with `gcc` (Debian: gcc libc6-dev; Alpine: build-base),\n"
        "# or set package_manager: apt or apk on the target so wheelhouse can add it."
    )


@pytest.mark.parametrize(
    ("log", "apt"),
    [
        ("make: cc: No such file or directory\n", ("gcc", "libc6-dev")),
        ("error: command 'gcc-12' failed: No such file or directory\n", ("gcc", "libc6-dev")),
        ("error: command 'aarch64-linux-gnu-g++' failed: No such file or directory\n", ("g++",)),
        ("bash: line 1: gfortran: command not found\n", ("gfortran",)),
    ],
)
def test_compiler_names_are_reduced_to_what_to_install(log: str, apt: tuple[str, ...]) -> None:
    assert hint(log, "mypkg", "apt").packages == apt


def test_a_failing_compile_is_not_a_missing_compiler() -> None:
    log = (
        "x.c:3:1: error: expected ';' before '}' token\n"
        "error: command 'gcc' failed with exit status 1\n"
    )
    assert suggest(log, n("mypkg"), "apt", knowledge=BARE) is None


@pytest.mark.parametrize(
    "log",
    [
        "../meson.build:1:0: ERROR: Unknown compiler(s): "
        "[['c++'], ['g++'], ['clang++'], ['nvc++'], ['pgc++'], ['icpc'], ['icpx']]\n",
        "CMake Error at CMakeLists.txt:3 (project):\n  No CMAKE_CXX_COMPILER could be found.\n",
        "error: command 'g++' failed: No such file or directory\n",
    ],
)
def test_a_missing_cxx_compiler(log: str) -> None:
    # apt and apk toolchains have g++ (build-base on Alpine): no entry helps there.
    found = hint(log, "grpcio", "apt")
    assert (found.packages, found.snippet) == (("g++",), "")
    assert "C++ compiler" in found.problem
    assert "already installs" in found.problem
    assert hint(log, "grpcio", "apk").packages == ("build-base",)
    # An image that brings its own compiler is told what to add to it.
    line = hint(log, "grpcio", "none").snippet.splitlines()[1]
    assert line.endswith("++` (Debian: g++; Alpine: build-base),"), line


# faust-cchardet on a toolchain without g++: gcc runs the C++ compiler proper it lacks.
CC1PLUS_LOG = """\
      building 'cchardet._cchardet' extension
      gcc -pthread -fPIC -Isrc/ext/uchardet/src -c src/cchardet/_cchardet.cpp
      gcc: fatal error: cannot execute 'cc1plus': execvp: No such file or directory
      compilation terminated.
      error: command '/usr/bin/gcc' failed with exit code 1
"""


@pytest.mark.parametrize(
    ("log", "command"),
    [
        (CC1PLUS_LOG, "g++"),
        ("gcc: fatal error: cannot execute 'cc1': execvp: No such file or directory\n", "gcc"),
        ("configure: error: C++ compiler cannot create executables\n", "g++"),
        ("configure: error: C compiler cannot create executables\n", "gcc"),
        ("/bin/sh: 1: g++: not found\n", "g++"),
    ],
)
def test_a_missing_compiler_proper_names_the_driver_to_install(log: str, command: str) -> None:
    found = hint(log, "faust-cchardet", "none")
    assert f"Build its base_image with `{command}`" in found.snippet
    assert hint(log, "faust-cchardet", "apt").packages[0] == command


# A C package that builds a helper library with make (the toolchain once had no make).
MAKE_LOG = """\
      running build_ext
      Traceback (most recent call last):
        File "<string>", line 31, in run
        File "/usr/lib/python3.11/subprocess.py", line 1024, in __init__
      FileNotFoundError: [Errno 2] No such file or directory: 'make'
"""


@pytest.mark.parametrize(
    "log",
    [
        MAKE_LOG,
        "/bin/sh: 1: make: not found\n",
        "wheelhouse: patch 0001-fix.patch: the image has no `patch` command\n",
    ],
)
def test_make_and_patch_come_with_the_toolchain(log: str) -> None:
    command = "patch" if "patch" in log else "make"
    found = hint(log, "mypkg", "apt")
    assert (found.packages, found.snippet) == ((command,), "")
    assert f"the build runs `{command}`" in found.problem
    assert hint(log, "mypkg", "apk").packages == ("build-base",)
    assert hint(log, "mypkg", "none").snippet.splitlines()[1] == (
        f"# Build its base_image with `{command}` (Debian: {command}; Alpine: build-base),"
    )


def test_a_knowledge_file_without_make_in_the_toolchain_gets_the_packages_line() -> None:
    older = replace(BARE, toolchain={"apt": ("gcc", "libc6-dev")})
    found = hint(MAKE_LOG, "mypkg", "apt", knowledge=older)
    assert found.snippet == snippet("mypkg", "apt", "make")


SCIPY_LOG = """\
      ../../meson.build:49:0: ERROR: Unknown compiler(s): [['gfortran'], ['flang'], \
['nvfortran'], ['pgfortran'], ['ifort'], ['g95']]
      The following exception(s) were encountered:
      Running `gfortran --version` gave "[Errno 2] No such file or directory: 'gfortran'"
      Running `gfortran -V` gave "[Errno 2] No such file or directory: 'gfortran'"
"""


@pytest.mark.parametrize(
    "log",
    [SCIPY_LOG, "    error: library mach has Fortran sources but no Fortran compiler found\n"],
)
def test_a_missing_fortran_compiler(log: str) -> None:
    found = hint(log, "scipy", "apk")
    assert found.snippet == snippet("scipy", "apk", "gfortran")
    assert found.problem == (
        "scipy: the build needs a Fortran compiler (gfortran) and the image has none; "
        "gfortran (apk) provides it"
    )


# --- Rust ----------------------------------------------------------------------------------------

SETUPTOOLS_RUST_LOG = """\
  running build_rust

      =============================DEBUG ASSISTANCE=============================
      If you are seeing a compilation error please try the following steps to
      successfully install cryptography:
      =============================DEBUG ASSISTANCE=============================

  error: can't find Rust compiler

  If you are using an outdated pip version, it is possible a prebuilt wheel is available \
for this package but pip is not able to install from it.
"""
MATURIN_LOG = """\
  ╰─> [6 lines of output]

      Cargo, the Rust package manager, is not installed or is not on PATH.
      This package requires Rust and Cargo to compile extensions. Install it through
      the system's package manager or via https://rustup.rs/

      Checking for Rust toolchain....
"""


@pytest.mark.parametrize(
    "log",
    [
        SETUPTOOLS_RUST_LOG,
        "error: Can not find Rust compiler\n",
        MATURIN_LOG,
        "Caused by: rustc, the rust compiler is not installed or not in PATH.\n",
        "      Checking for Rust toolchain....\n"
        "      Rust not found, installing into a temporary directory\n",
        "/bin/sh: 1: cargo: not found\n",
        "FileNotFoundError: [Errno 2] No such file or directory: 'cargo'\n",
    ],
)
def test_a_missing_rust_toolchain(log: str) -> None:
    assert hint(log, "tokenizers", "apt") == Hint(
        problem="tokenizers: the build needs a Rust toolchain (cargo and rustc) and the image "
        "has none; cargo, rustc (apt) provide it",
        packages=("cargo", "rustc"),
        snippet="packages:\n  tokenizers:\n    apt: [cargo, rustc]",
    )
    assert hint(log, "tokenizers", "apk").snippet == snippet("tokenizers", "apk", "cargo", "rust")


def test_rust_for_a_package_the_file_marks_rust_is_already_installed() -> None:
    found = hint(SETUPTOOLS_RUST_LOG, "cryptography", "apt", knowledge=load_knowledge())
    assert found.packages == ("cargo", "rustc")
    assert found.snippet == ""


def test_rust_for_a_target_without_package_manager() -> None:
    found = hint(MATURIN_LOG, "pydantic-core", "none")
    assert found.packages == ()
    assert found.snippet.splitlines()[1] == (
        "# Build its base_image with cargo and rustc (Debian: cargo rustc; Alpine: cargo rust),"
    )


@pytest.mark.parametrize(
    ("log", "needed", "have"),
    [
        (
            "error: package `pyo3-build-config v0.22.0` cannot be built because it requires "
            "rustc 1.65 or newer, while the currently active rustc version is 1.63.0\n",
            "1.65",
            "1.63.0",
        ),
        (
            "      error: Rust 1.48.0 does not match extension requirement >=1.56.0\n",
            ">=1.56.0",
            "1.48.0",
        ),
    ],
)
def test_a_too_old_rust_is_not_a_missing_package(log: str, needed: str, have: str) -> None:
    found = hint(log, "cryptography", "apt")
    assert found.problem == (
        f"cryptography: the image's Rust is too old: the build needs rustc {needed}, the image "
        f"has {have}. No system package of this image fixes that."
    )
    assert found.packages == ()
    assert found.snippet == (
        f"# No packages: entry fixes this: rustc {have} is older than the {needed} it needs.\n"
        "# Use a base_image with a newer Rust (Debian bookworm has 1.63, trixie 1.85),\n"
        f"# or pin an older release of cryptography that builds with rustc {have}."
    )


# --- pkg-config ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("log", "apt", "apk"),
    [
        (
            "Package libffi was not found in the pkg-config search path.\n"
            "Perhaps you should add the directory containing `libffi.pc'\n"
            "to the PKG_CONFIG_PATH environment variable\nNo package 'libffi' found\n",
            "libffi-dev",
            "libffi-dev",
        ),
        ("Package 'cairo', required by 'virtual:world', not found\n", "libcairo2-dev", "cairo-dev"),
        ("No package 'yaml-0.1' found\n", "libyaml-dev", "yaml-dev"),
        (
            "Run-time dependency cairo found: NO (tried pkgconfig and cmake)\n\n"
            '../cairo/meson.build:31:12: ERROR: Dependency "cairo" not found, '
            "tried pkgconfig and cmake\n",
            "libcairo2-dev",
            "cairo-dev",
        ),
        (
            "../meson.build:31:9: ERROR: Dependency 'gobject-introspection-1.0' "
            "is required but not found.\n",
            "libgirepository1.0-dev",
            "gobject-introspection-dev",
        ),
        (
            'ERROR: Dependency "OpenBLAS" not found, tried pkgconfig\n',
            "libopenblas-dev",
            "openblas-dev",
        ),
    ],
)
def test_a_missing_pkg_config_module(log: str, apt: str, apk: str) -> None:
    assert hint(log, "mypkg", "apt").snippet == snippet("mypkg", "apt", apt)
    assert hint(log, "mypkg", "apk").snippet == snippet("mypkg", "apk", apk)


def test_the_missing_module_problem_names_the_module() -> None:
    found = hint("Package libffi was not found in the pkg-config search path.\n", "cffi", "apt")
    assert (
        found.problem
        == "cffi: pkg-config cannot find the module libffi; libffi-dev (apt) provides it"
    )


def test_an_unknown_pkg_config_module() -> None:
    found = hint("No package 'libfrob' found\n", "mypkg", "apt")
    assert found.packages == ()
    assert found.problem.startswith("mypkg: pkg-config cannot find the module libfrob. No package")
    assert "the -dev package that ships libfrob.pc" in found.problem


@pytest.mark.parametrize(
    "log",
    [
        "/bin/sh: 1: pkg-config: not found\n",
        "sh: pkg-config: not found\n",
        "FileNotFoundError: [Errno 2] No such file or directory: 'pkg-config'\n",
        "Did not find pkg-config by name 'pkg-config'\nFound pkg-config: NO\n",
    ],
)
def test_a_missing_pkg_config_program(log: str) -> None:
    assert hint(log, "mypkg", "apt").snippet == snippet("mypkg", "apt", "pkgconf")
    assert hint(log, "mypkg", "apk").snippet == snippet("mypkg", "apk", "pkgconf")


def test_a_pkg_config_probe_loses_to_the_error_that_stopped_the_build() -> None:
    log = (
        "Package libffi was not found in the pkg-config search path.\n"
        "c/_cffi_backend.c:15:10: fatal error: ffi.h: No such file or directory\n"
    )
    assert "the C header ffi.h" in hint(log, "cffi", "apt").problem


# --- mysqlclient ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "log",
    [
        "    FileNotFoundError: [Errno 2] No such file or directory: 'mysql_config'\n",
        "    OSError: mysql_config not found\n",
        "/bin/sh: mysql_config: not found\n",
        "      Exception: Can not find valid pkg-config name.\n"
        "      Specify MYSQLCLIENT_CFLAGS and MYSQLCLIENT_LDFLAGS env vars manually\n",
    ],
)
def test_mysqlclient_needs_the_mariadb_client_development_files(log: str) -> None:
    apt = hint(log, "mysqlclient", "apt")
    assert apt.snippet == snippet("mysqlclient", "apt", "default-libmysqlclient-dev")
    apk = hint(log, "mysqlclient", "apk")
    assert apk.snippet == snippet("mysqlclient", "apk", "mariadb-connector-c-dev")


def test_a_file_not_found_for_something_that_is_not_a_program_is_ignored() -> None:
    log = "FileNotFoundError: [Errno 2] No such file or directory: 'README.md'\n"
    assert suggest(log, n("mypkg"), "apt", knowledge=BARE) is None


def test_an_unknown_program_the_shell_cannot_find() -> None:
    found = hint("/bin/sh: 1: frobconf: not found\n", "mypkg", "apt")
    assert found.problem.startswith("mypkg: the build runs `frobconf`, which is not installed. No")
    assert found.packages == ()


# --- libraries: the linker, Pillow, lxml -------------------------------------------------------


def test_the_linker_cannot_find_a_library() -> None:
    log = (
        "/usr/bin/ld: cannot find -lpq: No such file or directory\ncollect2: error: ld returned 1\n"
    )
    found = hint(log, "psycopg2", "apk")
    assert found.problem == (
        "psycopg2: the linker cannot find the library -lpq; libpq-dev (apk) provides it"
    )
    assert found.snippet == snippet("psycopg2", "apk", "libpq-dev")


PILLOW_LOG = """\
    running build_ext


    The headers or library files could not be found for jpeg,
    a required dependency when compiling Pillow from source.

    Please see the install instructions at:
       https://pillow.readthedocs.io/en/latest/installation/basic-installation.html
"""


def test_pillow_missing_jpeg() -> None:
    found = hint(PILLOW_LOG, "pillow", "apt")
    assert found.problem == (
        "pillow: the jpeg headers or library files are missing; libjpeg62-turbo-dev (apt) "
        "provides it"
    )
    assert found.snippet == snippet("pillow", "apt", "libjpeg62-turbo-dev")
    assert hint(PILLOW_LOG, "pillow", "apk").snippet == snippet(
        "pillow", "apk", "libjpeg-turbo-dev"
    )


def test_pillow_missing_zlib() -> None:
    log = PILLOW_LOG.replace("for jpeg,", "for zlib,")
    assert hint(log, "pillow", "apt").snippet == snippet("pillow", "apt", "zlib1g-dev")


@pytest.mark.parametrize(
    "log",
    [
        "Building lxml version 4.6.1.\nBuilding without Cython.\n"
        "Error: Please make sure the libxml2 and libxslt development packages are installed.\n",
        "** make sure the development packages of libxml2 and libxslt are installed **\n",
    ],
)
def test_lxml_needs_libxml2_and_libxslt(log: str) -> None:
    found = hint(log, "lxml", "apt")
    assert found.packages == ("libxml2-dev", "libxslt1-dev")
    assert found.snippet == snippet("lxml", "apt", "libxml2-dev", "libxslt1-dev")
    assert hint(log, "lxml", "apk").snippet == snippet("lxml", "apk", "libxml2-dev", "libxslt-dev")


def test_the_earliest_failure_wins() -> None:
    log = (
        "Building lxml version 2.3.5.\nERROR: /bin/sh: 1: xslt-config: not found\n\n"
        "** make sure the development packages of libxml2 and libxslt are installed **\n"
        "src/lxml/etree_defs.h:9:31: fatal error: libxml/xmlversion.h: No such file or directory\n"
    )
    found = hint(log, "lxml", "apt")
    assert found.problem == (
        "lxml: the build runs `xslt-config`, which is not installed; libxslt1-dev (apt) provides it"
    )
    assert found.snippet == snippet("lxml", "apt", "libxslt1-dev")


# --- build requirements, offline ---------------------------------------------------------------

PIP_OFFLINE_LOG = """\
  \u00d7 pip subprocess to install build dependencies did not run successfully.
  │ exit code: 1
  ╰─> [3 lines of output]
      Looking in links: /deps
      ERROR: Could not find a version that satisfies the requirement {req} (from versions: none)
      ERROR: No matching distribution found for {req}
      [end of output]
"""


def test_a_python_build_requirement_missing_offline_is_not_a_system_package() -> None:
    found = hint(PIP_OFFLINE_LOG.format(req="setuptools-scm>=8"), "mypkg", "apt")
    assert found == Hint(
        problem="mypkg: the build asked for the Python package setuptools-scm, which was not "
        "fetched for the offline build. It is a build requirement, not a system package.",
        packages=(),
        snippet="# setuptools-scm is a Python build requirement: no packages: entry installs it.\n"
        "# The build backend asked for it while building (it is not in the sdist's\n"
        "# build-system.requires), so wheelhouse did not fetch it for the offline build.",
    )


def test_ninja_asked_for_by_meson_python_is_a_system_package_away() -> None:
    found = hint(PIP_OFFLINE_LOG.format(req="ninja>=1.8.2"), "pycairo", "apt")
    assert found.problem == (
        "pycairo: the build backend asked for the Python package ninja, which is not available "
        "offline; it asks only when the tool is not installed; ninja-build (apt) provides it"
    )
    assert found.snippet == snippet("pycairo", "apt", "ninja-build")
    assert hint(PIP_OFFLINE_LOG.format(req="ninja"), "pycairo", "apk").snippet == snippet(
        "pycairo", "apk", "samurai"
    )


def test_puccinialin_means_rust_is_missing() -> None:
    found = hint(PIP_OFFLINE_LOG.format(req="puccinialin"), "maturin", "apk")
    assert found.snippet == snippet("maturin", "apk", "cargo", "rust")


# --- nothing recognised --------------------------------------------------------------------------


def test_a_log_with_nothing_recognisable_gives_none() -> None:
    log = "Traceback (most recent call last):\n  ...\nValueError: bad version\n"
    assert suggest(log, n("mypkg"), "apt", knowledge=BARE) is None


def test_the_packaged_knowledge_is_the_default() -> None:
    found = suggest(PSYCOPG2_LOG, n("psycopg2"), "apt")
    assert found is not None
    assert found.snippet == ""  # the packaged file already lists libpq-dev for psycopg2


def test_a_plain_compiler_in_a_cross_build_points_at_cc_cxx_or_qemu() -> None:
    # docopt with a before_build that runs make, whose Makefile compiles with g++ (arm64).
    log = "g++ -o gen gen.cpp\nmake: g++: No such file or directory\n"
    found = suggest(log, n("docopt"), "apt", knowledge=BARE, cross=True)
    assert found == Hint(
        problem="docopt: the cross build ran a plain `g++`, and the build machine has only "
        "the target's cross compilers ($CXX): a build or before_build step that compiles "
        "with `g++` must use $CXX, or the package must be built under QEMU",
        packages=(),
        snippet="packages:\n  docopt:\n    build_mode: emulate",
    )
    # A missing header is the target's, cross or not.
    header = "x.c:1:10: fatal error: ffi.h: No such file or directory\n"
    assert hint(header, "cffi", "apt").packages == ("libffi-dev",)
    crossed = suggest(header, n("cffi"), "apt", knowledge=BARE, cross=True)
    assert crossed is not None and crossed.packages == ("libffi-dev",)
