"""``build.secret_env``: values from wheelhouse's environment handed to every package build
as BuildKit secrets, and kept out of everything wheelhouse writes.

The value never enters the Dockerfile, the build context, the command line or the build
cache key: buildx reads it from its own environment (``--secret id=NAME,env=NAME``), the
package stages mount it (``RUN --mount=type=secret,id=NAME,target=SECRETS_DIR/NAME``) and
``build-wheel.sh`` exports it for the build and the recipe's ``before_build``, then
replaces it by ``REDACTED`` in the package's build log before the stage ends. What reaches
the host (the exported log, buildx's output) is redacted again here before it is saved or
printed. Changing a secret's value therefore rebuilds nothing: a secret must not change
what is built (a licence key, a signing passphrase), only whether the build may run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.errors import ConfigError

#: Where the package stages mount each secret (``build-wheel.sh`` reads this directory).
SECRETS_DIR = "/wheelhouse/secrets"
REDACTED = "***"


@dataclass(frozen=True)
class BuildSecrets:
    """The secrets of one run: their names, in wheelhouse.yaml's order, and values."""

    values: Mapping[str, str] = field(default_factory=dict)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.values)

    def redact(self, text: str) -> str:
        """``text`` with every secret's value (longest first) replaced by ``***``."""
        for value in sorted(filter(None, self.values.values()), key=len, reverse=True):
            text = text.replace(value, REDACTED)
        return text

    def __repr__(self) -> str:  # never the values, in a traceback or a debug print
        return f"BuildSecrets(names={self.names!r})"


NO_SECRETS = BuildSecrets()


def secrets_from_environment(
    names: tuple[str, ...], environ: Mapping[str, str], config: Path | None
) -> BuildSecrets:
    """The values of ``names`` in ``environ``; a name that is not set is an error."""
    missing = [n for n in names if n not in environ]
    if missing:
        where = f"{config}: build.secret_env" if config else "build.secret_env"
        listed = ", ".join(missing)
        raise ConfigError(
            f"{where} names {listed}, not set in the environment wheelhouse runs in",
            hint=f"export {missing[0]}=... before `wheelhouse build` (in CI: from the "
            "runner's secret store), or remove it from build.secret_env",
        )
    return BuildSecrets({n: environ[n] for n in names})


def secret_mounts(names: tuple[str, ...]) -> str:
    """The ``RUN`` options that mount each secret, one continued line each."""
    return "".join(
        f"    --mount=type=secret,id={n},target={SECRETS_DIR}/{n},required=true \\\n" for n in names
    )
