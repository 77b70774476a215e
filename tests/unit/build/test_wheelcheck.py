"""The target check of cross-built wheels (``check-wheel.py``), run here on the host.

The ELF steps need pyelftools (the build container's tools venv has it; these tests skip
them when it is absent); everything else runs with the host's Python: pure-Python wheels
are unpacked and imported in fresh interpreters, as on the target.
"""

from __future__ import annotations

import _ctypes
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from orchestrator.build.wheelcheck import (
    FAILED,
    NOTHING,
    PASSED,
    Libraries,
    Root,
    built_wheels,
    check_objects,
    interpreter_of,
    main,
    missing_dependency,
    problems_of,
    target_step,
    top_level_modules,
    unresolved,
)


def make_wheel(where: Path, name: str, files: dict[str, str], status: str = "0") -> Path:
    where.mkdir(parents=True, exist_ok=True)
    wheel = where / name
    with zipfile.ZipFile(wheel, "w") as archive:
        for member, text in files.items():
            archive.writestr(member, text)
    (where / "status").write_text(f"{status}\n")
    return wheel


def run_target(tmp_path: Path, built: Path, *flags: str) -> tuple[int, dict[str, object]]:
    out = tmp_path / "check"
    assert main(["target", "demo", str(built), str(out), *flags]) == 0
    return int((out / "check-status").read_text()), json.loads((out / "check.json").read_text())


# --- modules --------------------------------------------------------------------------------------


def test_top_level_modules_of_a_wheel() -> None:
    names = [
        "_cffi_backend.cpython-311-aarch64-linux-gnu.so",
        "cffi/__init__.py",
        "cffi/api.py",
        "cffi.libs/libffi-cbae420b.so.8.1.2",
        "cffi-1.17.1.dist-info/RECORD",
        "six.py",
        "ns/",
        "ns/plugin/__init__.py",
        "demo-1.0.data/scripts/tool",
    ]
    assert top_level_modules(names) == ["_cffi_backend", "cffi", "ns.plugin", "six"]


def test_a_missing_module_of_another_project_is_a_dependency() -> None:
    modules = ["psutil"]
    assert missing_dependency({"missing": "numpy.core"}, modules) == "numpy.core"
    assert missing_dependency({"missing": "psutil._psutil_linux"}, modules) is None
    assert missing_dependency({"error": "ImportError: x"}, modules) is None


# --- symbols --------------------------------------------------------------------------------------


def test_unresolved_symbols_respect_versions() -> None:
    defined = {("sscanf", "GLIBC_2.17"), ("__isoc99_sscanf", "GLIBC_2.17"), ("PyList_New", None)}
    undefined = {
        ("__isoc99_sscanf", "GLIBC_2.17"),
        ("__isoc23_sscanf", "GLIBC_2.38"),
        ("sscanf", "GLIBC_2.38"),
        ("PyList_New", None),
        ("PyList_New", "SOMETHING"),
        ("sscanf", None),
        ("nowhere", None),
    }
    assert unresolved(undefined, defined) == [
        "__isoc23_sscanf@GLIBC_2.38",
        "nowhere",
        "sscanf@GLIBC_2.38",
    ]


def test_root_follows_the_targets_symlinks_inside_it(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "usr" / "lib" / "aarch64-linux-gnu").mkdir(parents=True)
    (root / "usr" / "lib" / "aarch64-linux-gnu" / "libc.so.6").write_bytes(b"x")
    (root / "lib").symlink_to("usr/lib")  # usrmerge
    (root / "usr" / "bin").mkdir()
    (root / "usr" / "bin" / "python3.11").write_bytes(b"x")
    (root / "usr" / "bin" / "python3").symlink_to("python3.11")
    (root / "usr" / "local" / "bin").mkdir(parents=True)
    (root / "usr" / "local" / "bin" / "py").symlink_to("/usr/bin/python3")  # absolute
    target = Root(root)
    assert target.host("/lib/aarch64-linux-gnu/libc.so.6") == (
        root / "usr" / "lib" / "aarch64-linux-gnu" / "libc.so.6"
    )
    assert target.host("/usr/local/bin/py") == root / "usr" / "bin" / "python3.11"
    assert target.interpreter("python3") == root / "usr" / "bin" / "python3.11"
    assert target.interpreter("/usr/local/bin/py") == root / "usr" / "bin" / "python3.11"
    assert target.interpreter("python9") is None


def test_ld_so_conf_includes_are_followed_inside_the_root(tmp_path: Path) -> None:
    conf = tmp_path / "etc" / "ld.so.conf.d"
    conf.mkdir(parents=True)
    (tmp_path / "etc" / "ld.so.conf").write_text("include /etc/ld.so.conf.d/*.conf\n/opt/lib\n")
    (conf / "aarch64-linux-gnu.conf").write_text("# Multiarch\n/lib/aarch64-linux-gnu\n")
    (conf / "libc.conf").write_text("/usr/local/lib\n")
    assert Root(tmp_path).ld_so_conf_dirs() == [
        "/lib/aarch64-linux-gnu",
        "/usr/local/lib",
        "/opt/lib",
    ]
    libraries = Libraries(Root(tmp_path))
    assert libraries.system_dirs[:3] == ["/lib/aarch64-linux-gnu", "/usr/local/lib", "/opt/lib"]


def test_musl_loader_paths_come_first_split_on_colons_and_newlines(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "ld.so.conf").write_text("/usr/lib/aarch64-linux-gnu\n")
    (tmp_path / "etc" / "ld-musl-aarch64.path").write_text(
        "/usr/local/lib:/lib/aarch64-linux-musl\n/usr/lib/aarch64-linux-musl\n"
    )
    assert Root(tmp_path).ld_musl_path_dirs() == [
        "/usr/local/lib",
        "/lib/aarch64-linux-musl",
        "/usr/lib/aarch64-linux-musl",
    ]
    assert Libraries(Root(tmp_path)).system_dirs[:4] == [
        "/usr/local/lib",
        "/lib/aarch64-linux-musl",
        "/usr/lib/aarch64-linux-musl",
        "/usr/lib/aarch64-linux-gnu",
    ]


def test_musl_loader_without_a_path_file_searches_musls_defaults(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "etc").mkdir()
    assert Root(tmp_path).ld_musl_path_dirs() is None  # no musl at all: glibc's search only
    (tmp_path / "lib" / "ld-musl-x86_64.so.1").write_bytes(b"")
    assert Root(tmp_path).ld_musl_path_dirs() == ["/lib", "/usr/local/lib", "/usr/lib"]


def test_problems_name_what_fails_first_things_first() -> None:
    report = {
        "errors": [],
        "objects": {
            "x.so": {
                "libraries_not_found": ["libfoo.so.1"],
                "unresolved": [f"s{i}" for i in range(7)],
            },
        },
        "loads": {"x.so": "OSError: undefined symbol: s0", "y.so": "ok"},
        "imports": {"x": "ImportError: boom", "y": "ok", "z": "skipped: needs numpy"},
    }
    assert problems_of(report) == [
        "x.so needs libfoo.so.1: not found",
        "undefined symbol(s) in x.so: s0, s1, s2, s3, s4 (+2 more)",
        "dlopen x.so: OSError: undefined symbol: s0",
        "import x: ImportError: boom",
    ]


# --- the steps ------------------------------------------------------------------------------------


def test_a_failed_cross_build_has_nothing_to_check(tmp_path: Path) -> None:
    built = tmp_path / "built"
    make_wheel(built, "demo-1.0-py3-none-any.whl", {"demo.py": ""}, status="1")
    assert built_wheels(built) == []
    status, report = run_target(tmp_path, built)
    assert status == NOTHING
    assert report["wheels"] == []


def test_a_pure_wheel_is_only_imported(tmp_path: Path) -> None:
    built = tmp_path / "built"
    make_wheel(
        built,
        "demo-1.0-py3-none-any.whl",
        {"demo/__init__.py": "VALUE = 1\n", "demo-1.0.dist-info/RECORD": ""},
    )
    assert main(["symbols", "demo", str(built), str(built), "/", "python3"]) == 0
    assert json.loads((built / "symbols.json").read_text())["objects"] == {}
    status, report = run_target(tmp_path, built)
    assert status == PASSED, report
    assert report["imports"] == {"demo": "ok"}
    assert report["loads"] == {}
    assert report["problems"] == []


def test_an_import_error_fails_the_wheel_and_a_missing_dependency_does_not(
    tmp_path: Path,
) -> None:
    built = tmp_path / "built"
    make_wheel(
        built,
        "demo-1.0-py3-none-any.whl",
        {
            "broken.py": "raise ImportError('undefined symbol: __isoc23_sscanf')\n",
            "needy.py": "import wheelhouse_no_such_dependency\n",
        },
    )
    main(["symbols", "demo", str(built), str(built), "/", "python3"])
    status, report = run_target(tmp_path, built)
    assert status == FAILED
    assert report["imports"] == {
        "broken": "ImportError: undefined symbol: __isoc23_sscanf",
        "needy": "skipped: needs wheelhouse_no_such_dependency "
        "(dependencies are not installed here)",
    }
    assert report["problems"] == ["import broken: ImportError: undefined symbol: __isoc23_sscanf"]


def test_no_import_skips_imports(tmp_path: Path) -> None:
    built = tmp_path / "built"
    make_wheel(built, "demo-1.0-py3-none-any.whl", {"gpio.py": "raise RuntimeError('no Pi')\n"})
    main(["symbols", "demo", str(built), str(built), "/", "python3"])
    status, report = run_target(tmp_path, built, "--no-import")
    assert (status, report["imports"]) == (PASSED, {})


def test_without_the_symbol_step_the_check_fails(tmp_path: Path) -> None:
    built = tmp_path / "built"
    make_wheel(built, "demo-1.0-py3-none-any.whl", {"demo.py": ""})
    status, report = run_target(tmp_path, built)
    assert status == FAILED
    problems = report["problems"]
    assert isinstance(problems, list)
    assert problems[0].startswith("no symbol check: ")


def test_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["target"]) == 2
    assert "Usage::" in capsys.readouterr().err


# --- ELF objects (pyelftools) ---------------------------------------------------------------------


def test_the_interpreters_own_symbols_resolve(tmp_path: Path) -> None:
    """This very interpreter as the 'wheel's object': everything it needs is defined."""
    pytest.importorskip("elftools")
    executable = Path(sys.executable).resolve()
    report = check_objects([executable], executable.parent, Libraries(Root("/")), sys.executable)
    (info,) = report.values()
    assert info["unresolved"] == []


def test_an_executable_is_told_from_a_library_by_its_interpreter() -> None:
    # A PIE executable is an ET_DYN like a library: only PT_INTERP tells them apart, and
    # dlopen() refuses it ("cannot dynamically load position-independent executable").
    interpreter = interpreter_of(Path(sys.executable).resolve())
    assert interpreter is not None and "ld-" in interpreter
    assert interpreter_of(Path(_ctypes.__file__)) is None


def test_a_file_that_is_not_elf_has_no_interpreter(tmp_path: Path) -> None:
    (tmp_path / "x").write_bytes(b"#!/bin/sh\n")
    assert interpreter_of(tmp_path / "x") is None


def gcc(*args: str) -> None:
    if shutil.which("gcc") is None:
        pytest.skip("no gcc on this machine")
    subprocess.run(["gcc", *args], check=True, capture_output=True)


def compile_executable(tmp_path: Path, source: str) -> Path:
    """A PIE executable built on this machine by gcc, beside a ``libstub.so`` it links
    (``$ORIGIN``) that no longer defines ``Py_IsInitialized`` once the executable is linked:
    uwsgi's binary after auditwheel dropped libpython."""
    (tmp_path / "with.c").write_text("int Py_IsInitialized(void) { return 0; }\n")
    (tmp_path / "without.c").write_text("int other(void) { return 0; }\n")
    (tmp_path / "main.c").write_text(source)
    lib, exe = tmp_path / "libstub.so", tmp_path / "demo"
    shared = ("-shared", "-fPIC", "-Wl,-soname,libstub.so", "-o", str(lib))
    gcc(*shared, str(tmp_path / "with.c"))
    gcc("-pie", "-fPIE", "-o", str(exe), str(tmp_path / "main.c"),
        f"-L{tmp_path}", "-lstub", "-Wl,-rpath,$ORIGIN")  # fmt: skip
    gcc(*shared, str(tmp_path / "without.c"))
    return exe


def executable_wheel(tmp_path: Path, exe: Path) -> Path:
    wheel = tmp_path / "demo-1.0-py3-none-linux_x86_64.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.write(exe, "demo-1.0.data/scripts/demo")
        archive.write(exe.with_name("libstub.so"), "demo-1.0.data/scripts/libstub.so")
    return wheel


# It needs a Python symbol that no library it links defines, and in a process of its own
# nothing else provides it (the interpreter's symbols are there only for an extension).
NEEDS_PYTHON = "extern int Py_IsInitialized(void);\nint main(void) { return Py_IsInitialized(); }\n"


def test_an_executable_gets_none_of_the_interpreters_symbols(tmp_path: Path) -> None:
    pytest.importorskip("elftools")
    exe = compile_executable(tmp_path, NEEDS_PYTHON)
    report = check_objects([exe], tmp_path, Libraries(Root("/")), sys.executable)
    assert report["demo"]["unresolved"] == ["Py_IsInitialized"]


def test_an_executable_is_loaded_by_its_own_loader_and_fails_on_a_missing_symbol(
    tmp_path: Path,
) -> None:
    exe = compile_executable(tmp_path, NEEDS_PYTHON)
    loads = target_step([executable_wheel(tmp_path, exe)], imports=False)["loads"]
    verdict = loads["demo-1.0.data/scripts/demo"]
    assert "--list: exit code" in verdict and "undefined symbol: Py_IsInitialized" in verdict


def test_an_executable_whose_symbols_resolve_loads(tmp_path: Path) -> None:
    exe = compile_executable(tmp_path, '#include <stdio.h>\nint main(void) { puts("hi"); }\n')
    loads = target_step([executable_wheel(tmp_path, exe)], imports=False)["loads"]
    assert loads["demo-1.0.data/scripts/demo"] == "ok"


def test_a_library_the_runtime_packages_provide_is_found_in_syslibs(tmp_path: Path) -> None:
    """uwsgi's libpython is not in the base image: the target's build of it, handed in as
    SYSLIBS, resolves the executable's symbols; without it they are unresolved."""
    pytest.importorskip("elftools")
    exe = compile_executable(tmp_path, NEEDS_PYTHON)
    syslibs = tmp_path / "syslibs"
    syslibs.mkdir()
    (tmp_path / "with.c").rename(syslibs / "with.c")
    gcc("-shared", "-fPIC", "-Wl,-soname,libstub.so", "-o", str(syslibs / "libstub.so"),
        str(syslibs / "with.c"))  # fmt: skip
    (tmp_path / "libstub.so").unlink()  # neither beside it ($ORIGIN) nor on the system
    alone = check_objects([exe], tmp_path, Libraries(Root("/")), sys.executable)
    assert alone["demo"]["libraries_not_found"] == ["libstub.so"]
    found = check_objects([exe], tmp_path, Libraries(Root("/"), syslibs), sys.executable)
    assert found["demo"]["libraries_not_found"] == []
    assert found["demo"]["unresolved"] == []
