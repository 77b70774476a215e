"""A git requirement, end to end: fetched on the host, planned by commit, built, verified.

The repositories are bare ones made in tmp_path and read over ``file://`` (no network): a
flit_core project whose package holds a submodule (its own repository). The requirement
names a tag; the plan shows the commit it resolves to, the sdist is made on the host from a
checkout of that commit with its submodule, built natively for amd64 in the Debian test
image, and verified in a clean container; the manifest records the commit. A rev the
repository lacks is an error row saying so; the rest of that plan is kept.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.cli import wheelhouse
from tests.integration.gitserver import git

TARGET_ID = "cp311-manylinux_2_36_x86_64"
CONFIG = f"""\
requirements: requirements.txt
output: out
cache_dir: cache
targets:
  - id: {TARGET_ID}
    base_image: wheelhouse-test/python:3.11-bookworm-amd64
    system_packages: [python3-dev, libffi-dev]
"""
PYPROJECT = """\
[build-system]
requires = ["flit_core>=3.2,<4"]
build-backend = "flit_core.buildapi"

[project]
name = "whgit_tool"
version = "0.2.0"
description = "a git source test project"
requires-python = ">=3.8"
"""


def repositories(root: Path) -> Path:
    """``tool.git`` (tag v0.2) with ``whgit_tool/vendor`` a submodule of ``sub.git``."""
    sub = root / "sub"
    sub.mkdir(parents=True)
    git(sub, "init", "-q")
    (sub / "data.py").write_text('DATA = "from the submodule"\n')
    git(sub, "add", ".")
    git(sub, "commit", "-qm", "sub")
    git(root, "clone", "-q", "--bare", str(sub), "sub.git")
    tool = root / "tool"
    (tool / "whgit_tool").mkdir(parents=True)
    git(tool, "init", "-q")
    (tool / "pyproject.toml").write_text(PYPROJECT)
    (tool / "whgit_tool" / "__init__.py").write_text("from whgit_tool.vendor.data import DATA\n")
    git(tool, "submodule", "add", "-q", (root / "sub.git").as_uri(), "whgit_tool/vendor")
    git(tool, "add", ".")
    git(tool, "commit", "-qm", "tool")
    git(tool, "tag", "v0.2")
    git(root, "clone", "-q", "--bare", str(tool), "tool.git")
    return root / "tool.git"


@pytest.mark.engine
@pytest.mark.network
def test_a_git_requirement_is_planned_by_commit_built_and_verified(tmp_path: Path) -> None:
    repo = repositories(tmp_path / "repos")
    commit = git(repo, "rev-parse", "v0.2^{commit}")
    app = tmp_path / "app"
    app.mkdir()
    (app / "wheelhouse.yaml").write_text(CONFIG)
    (app / "requirements.txt").write_text(f"whgit-tool @ git+{repo.as_uri()}@v0.2\n")

    start = time.monotonic()
    planned = wheelhouse(app, "plan", "--json")
    plan_seconds = time.monotonic() - start

    assert planned.returncode == 0, planned.stderr
    ((row,),) = [t["packages"] for t in json.loads(planned.stdout)["targets"]]
    assert (row["name"], row["version"], row["action"], row["source"]) == (
        "whgit-tool",
        "0.2.0",
        "build",
        "git",
    )
    assert (row["commit"], row["repository"]) == (commit, repo.as_uri())
    print(f"plan with a git fetch + host sdist: {plan_seconds:.1f} s")

    built = wheelhouse(app, "build", "--verify")

    assert built.returncode == 0, built.stdout + built.stderr
    assert "+ import whgit_tool" in built.stdout + built.stderr
    house = app / "out" / TARGET_ID
    manifest = json.loads((house / "manifest.json").read_text())
    (entry,) = manifest["wheels"]
    assert (entry["source"], entry["commit"], entry["repository"]) == ("git", commit, repo.as_uri())
    assert entry["sdist_sha256"] == row["sha256"]

    (app / "requirements.txt").write_text(
        f"whgit-tool @ git+{repo.as_uri()}@v0.2\nother @ git+{repo.as_uri()}@no-such-rev\n"
        f"gone @ git+{(tmp_path / 'nowhere.git').as_uri()}@v1\n"
    )
    bad = wheelhouse(app, "plan")
    assert bad.returncode == 3, bad.stderr
    assert f"{repo.as_uri()}: no branch, tag or commit 'no-such-rev'" in bad.stdout
    assert "whgit-tool  0.2.0    build" in bad.stdout
    gone = next(line for line in bad.stdout.splitlines() if line.lstrip().startswith("gone"))
    assert "ERROR" in gone
    assert f"fetch --quiet --force {(tmp_path / 'nowhere.git').as_uri()}" in gone
    assert "the repository exists." in gone


@pytest.mark.network
def test_a_uv_lock_git_source_is_planned_by_its_locked_commit_with_the_same_sdist(
    tmp_path: Path,
) -> None:
    """`uv lock` against the repository; a fresh cache makes the sdist again: same sha256."""
    repo = repositories(tmp_path / "repos")
    commit = git(repo, "rev-parse", "v0.2^{commit}")
    app = tmp_path / "lockapp"
    app.mkdir()
    (app / "pyproject.toml").write_text(
        '[project]\nname = "whapp"\nversion = "0.1.0"\nrequires-python = ">=3.11"\n'
        f'dependencies = ["whgit-tool @ git+{repo.as_uri()}@v0.2"]\n'
    )
    allow_file = {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "protocol.file.allow",
        "GIT_CONFIG_VALUE_0": "always",
    }  # uv clones the submodule over file://
    uv = Path(sys.executable).with_name("uv")
    subprocess.run(
        [str(uv), "lock", "--quiet"],
        cwd=app,
        env={**os.environ, **allow_file},
        check=True,
        timeout=120,
    )
    (app / "wheelhouse.yaml").write_text(CONFIG.replace("requirements.txt", "uv.lock"))
    other = tmp_path / "reqapp"
    other.mkdir()
    (other / "wheelhouse.yaml").write_text(CONFIG)
    (other / "requirements.txt").write_text(f"whgit-tool @ git+{repo.as_uri()}@{commit}\n")

    rows = []
    for folder in (app, other):
        planned = wheelhouse(folder, "plan", "--json")
        assert planned.returncode == 0, planned.stderr
        ((row,),) = [t["packages"] for t in json.loads(planned.stdout)["targets"]]
        rows.append(row)

    lock_row, req_row = rows
    assert (lock_row["name"], lock_row["source"], lock_row["commit"]) == (
        "whgit-tool",
        "git",
        commit,
    )
    assert lock_row["sha256"] == req_row["sha256"]
