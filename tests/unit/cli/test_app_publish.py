"""``wheelhouse publish``: what it checks before the engine, and how its errors exit."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from orchestrator.build.engine import PushRequest
from orchestrator.cli import app as cli
from orchestrator.errors import RegistryError

TARGET = "cp311-manylinux_2_36_aarch64"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "requirements.txt").write_text("six==1.17.0\n")
    (tmp_path / "wheelhouse.yaml").write_text(
        f"requirements: requirements.txt\noutput: wheelhouse\ntargets:\n  - id: {TARGET}\n"
    )
    monkeypatch.chdir(tmp_path)
    return tmp_path


def built(project: Path) -> None:
    folder = project / "wheelhouse" / TARGET
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({"created": "2026-12-03T11:00:00Z"}))
    (folder / "requirements.txt").write_text("")


class RefusingEngine:
    def __init__(self, **_: Any) -> None:
        pass

    def ping(self) -> None:
        pass

    def push_image(self, request: PushRequest) -> str:
        raise RegistryError(
            f"the registry refused to let this machine push {request.ref}: denied",
            hint="log in with push rights (`docker login r.example`)",
        )

    def create_index(self, tag: str, sources: Sequence[str]) -> None:
        raise AssertionError("no index after a refused push")


def run(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["wheelhouse", "publish", *args])
    try:
        cli.main()
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    return 0


def test_a_target_never_built_is_bad_input_before_the_engine(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "DockerEngine", None)  # never reached
    assert run(monkeypatch, "--image", "r.example/app/wheels:n") == 2
    err = capsys.readouterr().err
    assert err == (
        f"error: no built wheelhouse for {TARGET} under wheelhouse/\n"
        "  hint: build it first (`wheelhouse build --target ID`), or leave the target out "
        "with --target/--arch\n"
    )


def test_a_bad_reference_is_bad_input(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    built(project)
    assert run(monkeypatch, "--image", "r.example/App:n") == 2
    assert "error: --image 'r.example/App:n' is not an image reference" in capsys.readouterr().err


def test_a_refused_push_exits_8_with_the_login_hint(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    built(project)
    monkeypatch.setattr(cli, "DockerEngine", RefusingEngine)
    assert run(monkeypatch, "--image", "r.example/app/wheels:n") == 8
    err = capsys.readouterr().err
    assert (
        f"error: the registry refused to let this machine push r.example/app/wheels:n-{TARGET}"
        in err
    )
    assert "  hint: log in with push rights (`docker login r.example`)\n" in err


def test_help_says_what_it_pushes_and_what_comes_next(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(monkeypatch, "--help") == 0
    text = " ".join(capsys.readouterr().out.split())
    for part in (
        "--image REF",
        "FROM scratch",
        "docker login REGISTRY",
        "wheelhouse dockerfile --target ID --from-image REF",
        "Exit 8",
    ):
        assert part in text
