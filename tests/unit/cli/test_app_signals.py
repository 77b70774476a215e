"""An interrupted run ends with 128 + the signal and says what it leaves; typer's exit codes
are not dropped (typer without standalone mode returns them instead of exiting)."""

from __future__ import annotations

import signal
import sys
from typing import Any

import pytest

from orchestrator.cli import app as cli
from orchestrator.session import Session


def run_main(monkeypatch: pytest.MonkeyPatch, raised: BaseException) -> int:
    def run_build(*_: Any) -> None:
        raise raised

    monkeypatch.setattr(Session, "open", classmethod(lambda *a, **k: object()))
    monkeypatch.setattr(cli, "run_build", run_build)
    monkeypatch.setattr(sys, "argv", ["wheelhouse", "build"])
    with pytest.raises(SystemExit) as info:
        cli.main()
    assert isinstance(info.value.code, int)
    return info.value.code


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_an_interrupted_build_says_what_it_leaves(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], signum: int, code: int
) -> None:
    assert run_main(monkeypatch, cli.Interrupted(signum)) == code
    err = capsys.readouterr().err
    assert err == f"interrupted ({signal.Signals(signum).name}): {cli.INTERRUPTED}\n"
    assert "never half-written" in err


def test_main_installs_its_handlers_only_while_it_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    seen: list[object] = []

    def run_build(*_: Any) -> None:
        seen.append(signal.getsignal(signal.SIGTERM))
        raise cli.Interrupted(signal.SIGTERM)

    monkeypatch.setattr(Session, "open", classmethod(lambda *a, **k: object()))
    monkeypatch.setattr(cli, "run_build", run_build)
    monkeypatch.setattr(sys, "argv", ["wheelhouse", "build"])
    with pytest.raises(SystemExit):
        cli.main()
    assert seen == [cli._raise_interrupted]
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


def test_a_keyboard_interrupt_typer_turns_into_130_is_not_exit_0(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """typer catches KeyboardInterrupt and returns 130; main used to drop it (exit 0)."""
    assert run_main(monkeypatch, KeyboardInterrupt()) == 130
