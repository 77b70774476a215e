"""verify with recipes: a failing ``test`` fails its package with its output; the recipe's
imports and tests reach the container script; the script runs a test with the venv first."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from orchestrator.config import Recipe
from orchestrator.errors import VerifyFailedError
from orchestrator.targets import Target
from orchestrator.wheelhouse.judge import parse_verify_output
from orchestrator.wheelhouse.probe import _run_test
from orchestrator.wheelhouse.verify import _recipes_argument

TARGET = Target.parse("cp311-manylinux_2_36_aarch64")
STEPS = [
    {"step": "venv", "ok": True, "returncode": 0, "log_tail": ""},
    {"step": "install", "ok": True, "returncode": 0, "log_tail": "Successfully installed"},
]


def report(test: dict[str, object]) -> object:
    row = {"name": "demo", "version": "1.0", "installed": True, "imports": {"demo": "ok"}}
    row["test"] = test
    stdout = "\n".join(json.dumps(r) for r in [*STEPS, row]) + "\n"
    return parse_verify_output(stdout, target=TARGET, image="img")


def test_a_failing_test_fails_its_package_with_its_output() -> None:
    got = report({"command": "demo --check", "returncode": 3, "output": "demo says no"})
    assert not got.ok  # type: ignore[attr-defined]
    (failed,) = got.failed  # type: ignore[attr-defined]
    assert (failed.test, failed.test_returncode, failed.test_output) == (
        "demo --check",
        3,
        "demo says no",
    )
    with pytest.raises(VerifyFailedError, match="test `demo --check` failed \\(exit 3\\)"):
        got.raise_for_failure()  # type: ignore[attr-defined]


def test_a_passing_test_keeps_the_package_ok() -> None:
    got = report({"command": "demo --check", "returncode": 0, "output": "fine"})
    assert got.ok  # type: ignore[attr-defined]


def test_only_recipes_with_imports_or_a_test_reach_the_container() -> None:
    recipes = {
        canonicalize_name("a"): Recipe(imports=("a", "a.b")),
        canonicalize_name("b"): Recipe(env=(("X", "1"),)),
        canonicalize_name("c"): Recipe(test="c --version"),
    }
    assert json.loads(_recipes_argument(recipes)) == {
        "a": {"imports": ["a", "a.b"], "test": None},
        "c": {"imports": None, "test": "c --version"},
    }
    assert _recipes_argument({}) == ""


def test_the_test_runs_with_the_venv_first_on_path(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "python").symlink_to(sys.executable)
    done = _run_test(str(tmp_path), 'command -v python; echo "$VIRTUAL_ENV"; exit 4', 30)
    assert done["returncode"] == 4
    assert done["output"] == f"{tmp_path}/bin/python\n{tmp_path}"
    assert os.environ.get("VIRTUAL_ENV") != str(tmp_path)
