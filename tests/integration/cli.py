"""The wheelhouse CLI as the integration tests run it: a real subprocess, in an app folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

WHEELHOUSE_CLI = Path(sys.executable).with_name("wheelhouse")


def wheelhouse(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``wheelhouse ARGS -c cwd/wheelhouse.yaml`` run in ``cwd``; its output captured."""
    return subprocess.run(
        [str(WHEELHOUSE_CLI), *args, "-c", str(cwd / "wheelhouse.yaml")],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
