"""Building: one buildx run per target turns a plan's builds into wheels.

``builder`` walks the plan (with ``graph`` for build requirements that must be built
first), ``stages``/``run`` assemble and run a target's stages, ``outcomes`` reads what
they exported; ``dockerfile`` renders the templates, ``cache`` keys finished wheels,
``requires``/``resolutions`` resolve build requirements, ``cross`` the cross toolchain's
packages, ``wheelcheck`` checks a cross wheel on the target, ``hints`` turns a failed
log into a fix, ``crates`` vendors Rust, ``engine`` is the Docker/buildx adapter.
Imports ``plan``, ``pypi`` and the top-level vocabulary.
"""
