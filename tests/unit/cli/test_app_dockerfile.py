"""``wheelhouse dockerfile``: the runtime packages come from the built wheelhouse."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from orchestrator.cli import app as cli

AMD64 = "cp311-manylinux_2_36_x86_64"
ARM64 = "cp311-manylinux_2_36_aarch64"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "wheelhouse.yaml").write_text(
        f"output: wheelhouse\ntargets:\n  - id: {AMD64}\n  - id: {ARM64}\n"
    )
    monkeypatch.chdir(tmp_path)
    return tmp_path


def built(project: Path, target: str, packages: list[str]) -> None:
    folder = project / "wheelhouse" / target
    folder.mkdir(parents=True)
    libraries = ["libasound.so.2"] if packages else []
    manifest = {"format": 2, "system_libraries": libraries, "runtime_packages": packages}
    (folder / "manifest.json").write_text(json.dumps(manifest))


def run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["wheelhouse", "dockerfile", *args])
    code = 0
    try:
        cli.main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def test_the_printed_stage_installs_the_wheelhouses_runtime_packages(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    built(project, AMD64, ["libasound2"])
    code, out, _ = run(monkeypatch, capsys, "--target", AMD64)
    assert code == 0
    assert "--no-install-recommends \\\n      libasound2 \\\n" in out


def test_without_a_built_wheelhouse_it_says_to_build_first(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(monkeypatch, capsys, "--target", AMD64)
    assert (code, out) == (2, "")
    assert "manifest.json is missing" in err
    assert "wheelhouse build --target ID" in err
    # The .dockerignore needs no wheelhouse.
    assert run(monkeypatch, capsys, "--target", AMD64, "--dockerignore")[0] == 0


def test_from_image_installs_what_any_platform_of_the_tag_needs(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    built(project, AMD64, [])
    built(project, ARM64, ["libasound2"])
    _, own, _ = run(monkeypatch, capsys, "--target", AMD64)
    assert "apt-get" not in own
    code, shared, _ = run(
        monkeypatch, capsys, "--target", AMD64, "--from-image", "reg.example/w:nightly"
    )
    assert code == 0
    assert "      libasound2 \\\n" in shared
