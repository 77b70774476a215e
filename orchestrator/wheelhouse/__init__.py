"""The product: ``collect`` writes a target's wheelhouse (PEP 503 ``simple/``,
hash-pinned requirements, manifest) and swaps it in atomically; ``verify`` installs it
offline in a clean runtime container; ``runtime`` renders the runtime stage's Dockerfile.
Imports ``build.engine`` and the top-level vocabulary.
"""
