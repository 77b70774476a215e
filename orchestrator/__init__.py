"""wheelhouse: plan, build, collect and verify wheels for foreign targets."""

__version__ = "0.1.0"
