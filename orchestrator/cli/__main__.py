"""``python -m orchestrator.cli``: the same as the ``wheelhouse`` command."""

from orchestrator.cli.app import main

main()
