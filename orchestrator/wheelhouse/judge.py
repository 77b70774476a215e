"""Turning the verify script's output (one JSON object per line) into a ``VerifyReport``. Pure."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

from orchestrator.targets import Target
from orchestrator.wheelhouse.report import _MISSING_WHEEL, PackageVerify, VerifyReport, likely_fix

_CULPRIT_PATTERNS = (
    re.compile(r"No matching distribution found for ([A-Za-z0-9][\w.-]*)"),
    re.compile(r"Could not find a version that satisfies the requirement ([A-Za-z0-9][\w.-]*)"),
    re.compile(r"Package '([\w.-]+)' requires a different Python"),
    re.compile(r"^\s+([A-Za-z0-9][\w.-]*)==\S+ from \S+", re.MULTILINE),
)


_UNSUPPORTED_WHEEL = re.compile(r"(\S+\.whl) is not a supported wheel on this platform")


def install_culprits(log: str) -> dict[str, str]:
    """Package (normalized name) -> the line of pip's output that names it as the failure."""
    culprits: dict[str, str] = {}
    lines = log.splitlines()
    hash_section = any("DO NOT MATCH THE HASHES" in line for line in lines)
    for line in lines:
        for number, pattern in enumerate(_CULPRIT_PATTERNS):
            if number == len(_CULPRIT_PATTERNS) - 1 and not hash_section:
                continue
            match = pattern.search(line)
            if match:
                message = line.strip()
                if number == len(_CULPRIT_PATTERNS) - 1:
                    message = f"hash mismatch: {message}"
                culprits.setdefault(canonicalize_name(match[1]), message)
        wheel = _UNSUPPORTED_WHEEL.search(line)
        if wheel:
            try:
                name = parse_wheel_filename(Path(wheel[1]).name)[0]
            except InvalidWheelFilename:
                continue
            culprits.setdefault(name, line.strip())
    return culprits


def parse_verify_output(
    stdout: str,
    *,
    target: Target,
    image: str,
    stderr_tail: str = "",
    exit_code: int | None = 0,
    timed_out: bool = False,
    start_error: str | None = None,
    missing: Sequence[Mapping[str, str]] = (),
    seconds: float = 0.0,
    container: str | None = None,
) -> VerifyReport:
    """Build the report from the script's JSON lines (see the module docstring)."""
    steps, rows = _json_lines(stdout)
    install = steps.get("install", {})
    install_ok = bool(install.get("ok"))
    log = str(install.get("log_tail") or steps.get("venv", {}).get("log_tail") or stderr_tail)
    culprits = install_culprits(log) if not install_ok else {}
    packages: dict[str, PackageVerify] = {}
    for row in rows:
        package = _package(row, culprits, install_ok)
        packages[package.name] = package
    for name, line in culprits.items():
        packages.setdefault(name, _not_installed(name, None, line))
    for item in missing:
        name = canonicalize_name(item["name"])
        reason = f"its build failed: {item.get('reason') or 'see the build log'}"
        packages[name] = _not_installed(name, item.get("version"), reason, _MISSING_WHEEL)
    error, hint = _global_failure(
        steps,
        log,
        exit_code=exit_code,
        timed_out=timed_out,
        start_error=start_error,
        culprits=culprits,
    )
    ordered = tuple(packages[n] for n in sorted(packages))
    return VerifyReport(
        target=target,
        ok=install_ok and error is None and all(p.ok for p in ordered),
        packages=ordered,
        install_log_tail=log,
        image=image,
        install_ok=install_ok,
        error=error,
        hint=hint,
        seconds=seconds,
        container=container,
    )


def _json_lines(stdout: str) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    steps: dict[str, dict[str, Any]] = {}
    rows: list[dict[str, Any]] = []
    for line in stdout.splitlines():
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if isinstance(data, dict) and isinstance(data.get("step"), str):
            steps[data["step"]] = data
        elif isinstance(data, dict) and isinstance(data.get("name"), str):
            rows.append(data)
    return steps, rows


def _package(
    row: Mapping[str, Any], culprits: Mapping[str, str], install_ok: bool
) -> PackageVerify:
    name = canonicalize_name(str(row["name"]))
    version = row.get("version")
    version = str(version) if version is not None else None
    if not row.get("installed"):
        return _not_installed(name, version, culprits.get(name) or _why_not(culprits, install_ok))
    imports = {str(m): str(r) for m, r in dict(row.get("imports") or {}).items()}
    hints = dict.fromkeys(h for r in imports.values() if r != "ok" for h in [likely_fix(r)] if h)
    test = row.get("test")
    test = test if isinstance(test, dict) else {}
    if test and test.get("returncode") != 0:
        fix = likely_fix(str(test.get("output", "")))
        hints.update({fix: None} if fix else {})
    return PackageVerify(
        name=name,
        version=version,
        installed=True,
        imports=imports,
        hints=tuple(hints),
        import_skipped=bool(row.get("import_skipped")),
        test=str(test["command"]) if "command" in test else None,
        test_returncode=int(test["returncode"]) if "returncode" in test else None,
        test_output=str(test.get("output", "")),
    )


def _why_not(culprits: Mapping[str, str], install_ok: bool) -> str:
    if install_ok:
        return "not installed"
    if culprits:
        return f"not installed: pip stopped at {', '.join(sorted(culprits))}"
    return "not installed: the install step failed"


def _not_installed(
    name: str, version: str | None, error: str, hint: str | None = None
) -> PackageVerify:
    hint = hint or likely_fix(error)
    return PackageVerify(
        name=name, version=version, installed=False, error=error, hints=(hint,) if hint else ()
    )


def _global_failure(
    steps: Mapping[str, Mapping[str, Any]],
    log: str,
    *,
    exit_code: int | None,
    timed_out: bool,
    start_error: str | None,
    culprits: Mapping[str, str],
) -> tuple[str | None, str | None]:
    """A failure no package line explains: (message, hint) or (None, None)."""
    if start_error:
        return f"the runtime image could not start the verify script: {start_error}", (
            "set targets[].python in wheelhouse.yaml to the image's Python command"
            if "executable file not found" in start_error
            else None
        )
    if timed_out:
        return "verify timed out (the container was killed)", (
            "raise the verify timeout; under QEMU imports run several times slower"
        )
    venv = steps.get("venv")
    if venv is not None and not venv.get("ok"):
        return "could not create a venv in the runtime image", likely_fix(log) or (
            "the runtime image needs Python's venv module (Debian: python3-venv)"
        )
    if "install" not in steps:
        return f"the verify script did not finish (exit code {exit_code})", likely_fix(log)
    if not steps["install"].get("ok") and not culprits:
        return "pip install failed", likely_fix(log)
    return None, None
