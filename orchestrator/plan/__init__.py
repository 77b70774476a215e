"""Planning: what each target needs, decided before anything runs.

Reads the inputs (``requirements``, ``uvlock``), resolves loose ones per target
(``resolve``), decides per package wheel / build / error (``planner``, ``inputs``) and
how each build runs (``modes``). Pure but for ``resolve``, which runs uv. Imports the
top-level vocabulary (config, model, targets, errors, knowledge) and ``pypi.uv``.
"""
