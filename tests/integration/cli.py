"""The wheelhouse CLI as the integration tests run it: a real subprocess, in an app folder."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

WHEELHOUSE_CLI = Path(sys.executable).with_name("wheelhouse")


def wheelhouse(
    cwd: Path, *args: str, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``wheelhouse ARGS -c cwd/wheelhouse.yaml`` run in ``cwd``; its output captured
    (``env``: variables set over the test's environment)."""
    return subprocess.run(
        [str(WHEELHOUSE_CLI), *args, "-c", str(cwd / "wheelhouse.yaml")],
        cwd=cwd,
        env={**os.environ, **env} if env else None,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
