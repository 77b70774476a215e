"""Recipes in a build: their files in the context, their key, and build-wheel.sh using them."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from orchestrator.build.dockerfile import build_script
from orchestrator.build.recipe import expand, recipe_digest, write_recipe
from orchestrator.config import Recipe
from orchestrator.targets import Target

TARGET = Target.parse("cp311-manylinux_2_36_aarch64")


def test_target_references_are_expanded_and_others_kept() -> None:
    assert expand("-march=${TARGET_ARCH} ${HOME} $X", TARGET) == "-march=aarch64 ${HOME} $X"
    assert expand("${PLATFORM_TAG}/${PYTHON_VERSION}", TARGET) == "manylinux_2_36_aarch64/3.11"


def test_a_recipe_that_changes_no_build_has_no_digest() -> None:
    assert recipe_digest(Recipe(), TARGET) == ""
    assert recipe_digest(Recipe(test="x --version", imports=("x",)), TARGET) == ""


def test_each_build_input_changes_the_digest(tmp_path: Path) -> None:
    patch = tmp_path / "a.patch"
    patch.write_text("one\n")
    base = Recipe(env=(("A", "1"),), patches=(patch,))
    before = recipe_digest(base, TARGET)
    others = [
        Recipe(env=(("A", "2"),), patches=(patch,)),
        Recipe(env=(("A", "1"),), patches=(patch,), config_settings=(("k", "v"),)),
        Recipe(env=(("A", "1"),), patches=(patch,), before_build="true"),
    ]
    assert len({before, *(recipe_digest(r, TARGET) for r in others)}) == 4
    patch.write_text("two\n")
    assert recipe_digest(base, TARGET) != before


def test_an_env_value_naming_the_target_differs_per_target() -> None:
    recipe = Recipe(env=(("CFLAGS", "-D${TARGET_ARCH}"),))
    other = Target.parse("cp311-manylinux_2_36_x86_64")
    assert recipe_digest(recipe, TARGET) != recipe_digest(recipe, other)


# --- build-wheel.sh with a recipe, on the host (a fake pip, the host's Python unpacks) ----------

PATCH = """\
--- a/demo.py
+++ b/demo.py
@@ -1 +1,2 @@
 VALUE = 1
+PATCHED = True
"""


def sdist(tmp_path: Path) -> Path:
    path = tmp_path / "demo-1.0.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for name, text in {"demo-1.0/demo.py": "VALUE = 1\n", "demo-1.0/setup.py": ""}.items():
            info = tarfile.TarInfo(name)
            info.size = len(text)
            archive.addfile(info, io.BytesIO(text.encode()))
    return path


def fake_venv(tmp_path: Path) -> Path:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(sys.executable)
    pip = venv / "bin" / "pip"
    # Says what it was handed and what the tree holds, then writes a pure wheel.
    pip.write_text(
        '#!/bin/sh\necho "pip $* CFLAGS=$CFLAGS"\nfor last; do :; done\n'
        'cat "$last/demo.py" "$last/generated.txt" 2>/dev/null\n'
        'while [ "$1" != "-w" ]; do shift; done; touch "$2/demo-1.0-py3-none-any.whl"\n'
    )
    pip.chmod(0o755)
    return venv


def run(tmp_path: Path, recipe: Recipe) -> tuple[str, str]:
    write_recipe(tmp_path / "recipe", recipe, TARGET)
    out = tmp_path / "out"
    args = ["sh", str(build_script()), "demo", str(sdist(tmp_path)), str(tmp_path), "60"]
    args += ["manylinux_2_36_aarch64", str(fake_venv(tmp_path)), str(tmp_path / "recipe")]
    env = {**os.environ, "WHEELHOUSE_OUT": str(out), "WHEELHOUSE_WORK": str(tmp_path / "work")}
    subprocess.run(args, env=env, check=True)
    return (out / "demo" / "status").read_text().strip(), (out / "demo" / "build.log").read_text()


@pytest.mark.skipif(not Path("/usr/bin/patch").exists(), reason="needs patch(1)")
def test_script_applies_env_patches_before_build_and_settings(tmp_path: Path) -> None:
    patch = tmp_path / "add.patch"
    patch.write_text(PATCH)
    recipe = Recipe(
        env=(("CFLAGS", "-O1 -DARCH=${TARGET_ARCH}"),),
        config_settings=(("--build-option", "--quiet"),),
        patches=(patch,),
        before_build="echo made-by-before-build > generated.txt",
    )
    status, log = run(tmp_path, recipe)
    assert status == "0", log
    assert "wheelhouse: recipe env: CFLAGS" in log
    assert "wheelhouse: applying patch 0001-add.patch" in log
    assert "--config-settings --build-option=--quiet" in log
    assert "CFLAGS=-O1 -DARCH=aarch64" in log
    assert "PATCHED = True" in log
    assert "made-by-before-build" in log


@pytest.mark.skipif(not Path("/usr/bin/patch").exists(), reason="needs patch(1)")
def test_a_patch_that_does_not_apply_fails_with_its_file_and_hunk(tmp_path: Path) -> None:
    patch = tmp_path / "bad.patch"
    patch.write_text(PATCH.replace("@@ -1 +1,2 @@\n VALUE = 1", "@@ -1 +1 @@\n-VALUE = 2"))
    status, log = run(tmp_path, Recipe(patches=(patch,)))
    assert status == "1"
    assert "Hunk #1 FAILED" in log
    assert "wheelhouse: patch 0001-bad.patch does not apply" in log


def test_a_failing_before_build_fails_the_build(tmp_path: Path) -> None:
    status, log = run(tmp_path, Recipe(before_build="echo nope; exit 7"))
    assert status == "7"
    assert "nope" in log
    assert "wheelhouse: before_build failed (exit 7)" in log
    assert "pip wheel" not in log.replace("wheelhouse: pip wheel", "")


def test_every_build_is_in_tree_at_a_fixed_path_with_fixed_flags(tmp_path: Path) -> None:
    status, log = run(tmp_path, Recipe(env=(("CFLAGS", "-O1"),)))
    tree = tmp_path / "work" / "demo" / "src" / "demo-1.0"
    assert status == "0"
    assert f"wheelhouse: pip wheel demo-1.0.tar.gz in {tree}" in log
    assert f"CFLAGS=-O1 -ffile-prefix-map={tree}=." in log
    assert "SOURCE_DATE_EPOCH=315532800" in log
    assert "config-settings" not in log


def test_system_libraries_are_excluded_from_the_repair(tmp_path: Path) -> None:
    """The knowledge file's system_libraries reach auditwheel as --exclude, one each."""
    write_recipe(tmp_path / "recipe", Recipe(), TARGET, exclude=("libasound.so.2", "libfoo.so.*"))
    assert (tmp_path / "recipe" / "auditwheel-exclude").read_text() == (
        "libasound.so.2\nlibfoo.so.*\n"
    )
    venv = fake_venv(tmp_path)
    pip = venv / "bin" / "pip"
    pip.write_text(
        '#!/bin/sh\nwhile [ "$1" != "-w" ]; do shift; done\n'
        'touch "$2/demo-1.0-cp311-cp311-linux_aarch64.whl"\n'
    )
    auditwheel = venv / "bin" / "auditwheel"
    # Prints its arguments one per line (a wildcard must reach it unexpanded), then writes
    # the repaired wheel into the directory after -w.
    auditwheel.write_text(
        '#!/bin/sh\nfor arg; do echo "arg: $arg"; done\n'
        'while [ "$1" != "-w" ]; do shift; done\n'
        'touch "$2/demo-1.0-cp311-cp311-manylinux_2_36_aarch64.whl"\n'
    )
    auditwheel.chmod(0o755)
    (tmp_path / "libfoo.so.1").touch()  # a wildcard the shell could expand, if unquoted
    out = tmp_path / "out"
    args = ["sh", str(build_script()), "demo", str(sdist(tmp_path)), str(tmp_path), "60"]
    args += ["manylinux_2_36_aarch64", str(venv), str(tmp_path / "recipe")]
    env = {**os.environ, "WHEELHOUSE_OUT": str(out), "WHEELHOUSE_WORK": str(tmp_path / "work")}
    subprocess.run(args, env=env, check=True, cwd=tmp_path)
    log = (out / "demo" / "build.log").read_text()
    assert (out / "demo" / "status").read_text() == "0\n", log
    passed = [line[5:] for line in log.splitlines() if line.startswith("arg: ")]
    assert passed[:7] == [
        "repair",
        "--plat",
        "manylinux_2_36_aarch64",
        "--exclude",
        "libasound.so.2",
        "--exclude",
        "libfoo.so.*",
    ]
    assert (
        "wheelhouse: auditwheel repair --plat manylinux_2_36_aarch64 --exclude libasound.so.2 "
        "--exclude libfoo.so.* demo-1.0-cp311-cp311-linux_aarch64.whl"
    ) in log


def test_without_system_libraries_no_exclude_file_is_written(tmp_path: Path) -> None:
    write_recipe(tmp_path / "recipe", Recipe(), TARGET)
    assert list((tmp_path / "recipe").iterdir()) == []
