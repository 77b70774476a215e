"""The ``wheelhouse`` command: a thin typer app (``app``) over the stages, with the
terminal's progress (``console``), tables (``render``), reports (``reports``) and
``doctor``. The one place that turns errors into exit codes (``app.main``).
"""

from orchestrator.cli.app import main

__all__ = ["main"]
