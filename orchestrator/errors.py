"""Every error wheelhouse raises on purpose, and the exit code each maps to.

The core raises these; only ``orchestrator.cli.app.main`` turns them into a message
and an exit code. A message says what went wrong, where, and how to fix it.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """The documented exit codes. CI jobs branch on these."""

    OK = 0
    #: Unexpected failure inside wheelhouse itself (a bug: please report it).
    INTERNAL = 1
    #: Bad input: a file, a config field, a target id, a requirement line.
    BAD_INPUT = 2
    #: The plan has packages that can be neither downloaded nor built.
    PLAN_ERRORS = 3
    #: Some builds failed; the wheels that did build were kept.
    BUILD_FAILED = 4
    #: The wheelhouse did not install or import in a clean target container.
    VERIFY_FAILED = 5
    #: Docker engine, buildx or QEMU is missing or not answering.
    ENGINE_UNAVAILABLE = 6
    #: The package index could not be reached (after retries).
    INDEX_UNAVAILABLE = 7
    #: A container registry could not be reached, or refused a push (``wheelhouse publish``).
    REGISTRY_FAILED = 8
    #: ``build --check-reproducible``: a package built again gave other bytes.
    NOT_REPRODUCIBLE = 9
    #: No space left (or over quota) where the cache or the output is written.
    DISK_FULL = 10


class WheelhouseError(Exception):
    """Base class: ``message`` says what and where, ``hint`` says how to fix it."""

    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class BadInputError(WheelhouseError):
    exit_code = ExitCode.BAD_INPUT


class ConfigError(BadInputError):
    """wheelhouse.yaml is missing, malformed, or has a bad field."""


class RequirementsError(BadInputError):
    """A requirements file or uv.lock cannot be read; the message names file and line or field."""


class TargetError(BadInputError):
    """An unknown or malformed target id or architecture."""


class PlanError(WheelhouseError):
    """At least one package of the plan is an error."""

    exit_code = ExitCode.PLAN_ERRORS


class BuildFailedError(WheelhouseError):
    exit_code = ExitCode.BUILD_FAILED


class VerifyFailedError(WheelhouseError):
    exit_code = ExitCode.VERIFY_FAILED


class NotReproducibleError(WheelhouseError):
    exit_code = ExitCode.NOT_REPRODUCIBLE


class EngineError(WheelhouseError):
    """Docker, buildx or QEMU is not usable."""

    exit_code = ExitCode.ENGINE_UNAVAILABLE


class IndexUnavailableError(WheelhouseError):
    exit_code = ExitCode.INDEX_UNAVAILABLE


class RegistryError(WheelhouseError):
    """A registry is unreachable or refused a push; the message names the reference."""

    exit_code = ExitCode.REGISTRY_FAILED


class ResolveError(BadInputError):
    """uv could not resolve the requirements for a target."""


class DiskFullError(WheelhouseError):
    """ENOSPC or EDQUOT while writing the cache or the output; nothing half-written is kept."""

    exit_code = ExitCode.DISK_FULL
