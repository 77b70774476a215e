"""``wheelhouse build --mode`` and ``--emulate`` reach the pipeline's options."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from orchestrator.cli import app as cli
from orchestrator.pipeline import BuildOptions
from orchestrator.session import Session


class _Done:
    def problem(self) -> None:
        return None


def build_options(monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, BuildOptions | None]:
    seen: list[BuildOptions] = []

    def run_build(_session: Any, options: BuildOptions, *_: Any) -> _Done:
        seen.append(options)
        return _Done()

    monkeypatch.setattr(Session, "open", classmethod(lambda *a, **k: object()))
    monkeypatch.setattr(cli, "run_build", run_build)
    monkeypatch.setattr(cli, "_print_build", lambda *a: None)
    monkeypatch.setattr(sys, "argv", ["wheelhouse", "build", *args])
    try:
        cli.main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    return code, (seen[0] if seen else None)


def test_the_default_leaves_the_mode_to_wheelhouse_yaml(monkeypatch: pytest.MonkeyPatch) -> None:
    code, options = build_options(monkeypatch)
    assert code == 0
    assert options is not None
    assert (options.mode, options.emulate) == (None, ())


def test_mode_and_emulate(monkeypatch: pytest.MonkeyPatch) -> None:
    args = ("--mode", "cross", "--emulate", "psycopg2", "--emulate", "uWSGI")
    code, options = build_options(monkeypatch, *args)
    assert code == 0
    assert options is not None
    assert (options.mode, options.emulate) == ("cross", ("psycopg2", "uWSGI"))


def test_an_unknown_mode_is_bad_input(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, options = build_options(monkeypatch, "--mode", "qemu")
    assert (code, options) == (2, None)
    assert capsys.readouterr().err == (
        "error: --mode 'qemu' is not one of auto, cross, emulate\n"
        "  hint: e.g. --mode emulate (QEMU for every package) or --emulate PKG for one\n"
    )
