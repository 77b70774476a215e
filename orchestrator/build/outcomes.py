"""Reading a buildx run's exported directory: each package's status, log and wheel, each
cross wheel's check on the target, and what enters the build cache."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from packaging.utils import (
    InvalidWheelFilename,
    NormalizedName,
    parse_wheel_filename,
)

from orchestrator.build.cache import BuiltMeta
from orchestrator.build.canonical import CanonicalError, canonicalize
from orchestrator.build.context import (
    BuildContext,
    Outcome,
    Prepared,
    artifacts_of,
    build_epoch,
    emit,
    make_failure,
    save_buildx_log,
    save_log,
)
from orchestrator.build.engine import BuildxResult
from orchestrator.build.progress import ProgressWatcher
from orchestrator.build.wheelcheck import FAILED as CHECK_FAILED
from orchestrator.build.wheelcheck import PASSED as CHECK_PASSED
from orchestrator.model import BuildFailure, PackagePlan
from orchestrator.targets import Target


@dataclass(frozen=True, kw_only=True)
class PackageResult:
    """What a package stage left in ``<out>/<name>/``."""

    status: int | None
    log: str
    wheels: tuple[Path, ...]
    script_seconds: float | None


def read_package_result(out: Path, name: str, redact: Callable[[str], str] = str) -> PackageResult:
    """``status`` ``None``: the stage never ran (or the export never happened); the log
    goes through ``redact`` (``BuildSecrets.redact``)."""
    where = out / name
    return PackageResult(
        status=_read_int(where / "status"),
        log=redact(_read_text(where / "build.log")),
        wheels=tuple(sorted(where.glob("*.whl"))),
        script_seconds=_read_float(where / "seconds"),
    )


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _read_int(path: Path) -> int | None:
    try:
        return int(_read_text(path).strip())
    except ValueError:
        return None


def _read_float(path: Path) -> float | None:
    try:
        return float(_read_text(path).strip())
    except ValueError:
        return None


def collect_results(  # noqa: PLR0917
    target: Target,
    missing: list[Prepared],
    result: BuildxResult,
    seconds: dict[NormalizedName, float],
    out: Path,
    ctx: BuildContext,
    outcome: Outcome,
) -> None:
    run_log = save_buildx_log(target, result, ctx) if not result.ok else None
    for prepared in missing:
        found = read_package_result(out, prepared.name, ctx.secrets.redact)
        log_path = save_log(target, prepared.package, found.log, ctx) if found.log else None
        failure: BuildFailure | None
        if found.status is None:
            failure = _run_failure(prepared.package, result, run_log)
        elif found.status != 0 or not found.wheels:
            failure = _package_failure(prepared.package, found, log_path)
        else:
            took = seconds.get(prepared.name, found.script_seconds or 0.0)
            failure = _store(prepared, found, took, log_path, ctx, outcome)
        if failure is not None:
            outcome.failures.append(failure)
            emit(ctx, target, "package-failed", prepared.name, failure.reason)


@dataclass(frozen=True, kw_only=True)
class CheckResult:
    """What a cross-built wheel's check on the target (``wheelcheck``) left in
    ``<out>/<name>/``: ``status`` 0 passed, 1 failed, 2 nothing to check, ``None`` no check."""

    status: int | None
    problems: tuple[str, ...]
    #: ``check.json`` as written: undefined symbols per ELF object, loads, imports.
    report: str


def read_check_result(out: Path, name: str) -> CheckResult:
    where = out / name
    report = _read_text(where / "check.json")
    try:
        data = json.loads(report) if report else {}
    except ValueError:
        data = {}
    problems = data.get("problems", []) if isinstance(data, dict) else []
    return CheckResult(
        status=_read_int(where / "check-status"),
        problems=tuple(str(p) for p in problems),
        report=report,
    )


def collect_cross_results(  # noqa: PLR0917
    target: Target,
    crossed: list[Prepared],
    result: BuildxResult,
    watcher: ProgressWatcher,
    out: Path,
    ctx: BuildContext,
    outcome: Outcome,
) -> list[Prepared]:
    """Store each cross-built wheel that passed its check on the target; return those to
    build again under QEMU (``auto``). A forced cross build that failed is a failure."""
    again: list[Prepared] = []
    for prepared in crossed:
        assert prepared.cross is not None, prepared.name
        found = read_package_result(out, prepared.name, ctx.secrets.redact)
        check = read_check_result(out, prepared.name)
        log_path = _save_cross_files(target, prepared.package, found.log, check, ctx)
        checked = watcher.check_seconds.get(prepared.name)
        if check.status in (CHECK_PASSED, CHECK_FAILED):
            emit(ctx, target, "check", prepared.name, _check_verdict(check), checked)
        problem = _cross_verdict(target, found, check, result)
        if problem is None:
            took = watcher.seconds.get(prepared.name, found.script_seconds or 0.0)
            stored = replace(prepared, inputs=prepared.cross.inputs)
            failure = _store(stored, found, took, log_path, ctx, outcome, checked)
            if failure is None:
                continue
            problem = failure.reason
        retry = give_up_cross(prepared, problem, ctx, outcome, found.log, log_path)
        if retry is not None:
            again.append(retry)
    return again


def _check_verdict(check: CheckResult) -> str:
    if check.status == CHECK_PASSED:
        return "passed: its symbols resolve, it loads and imports on the target"
    return "failed: " + "; ".join(check.problems[:2])


def _cross_verdict(
    target: Target, found: PackageResult, check: CheckResult, result: BuildxResult
) -> str | None:
    """Why a cross-built wheel may not enter the wheelhouse; ``None`` when it may."""
    if found.status is None:
        return f"the cross build did not run: {_run_reason(result)}"
    if found.status != 0 or not found.wheels:
        return _cross_build_failure(found)
    foreign = [w.name for w in found.wheels if not _fits(w, target)]
    if foreign:
        return f"the cross-built wheel is not for {target.id}: {', '.join(foreign)}"
    if check.status == CHECK_FAILED:
        problems = "; ".join(check.problems[:3]) or "see its check.json"
        return f"the cross-built wheel failed its check on the target: {problems}"
    if check.status != CHECK_PASSED:
        return "the cross-built wheel's check on the target did not run"
    return None


def _cross_build_failure(found: PackageResult) -> str:
    said = [
        line.removeprefix("wheelhouse: ")
        for line in found.log.splitlines()
        if line.startswith("wheelhouse: ") and not line.startswith("wheelhouse: exit status")
    ]
    if found.status == 97 and said:
        return f"the {said[-1]}"
    if found.status == 98:
        return "the build requirements could not be installed for the build machine"
    if found.status == 124:
        return "the cross build timed out (per-package time limit)"
    if found.status == 0:
        return "the cross build succeeded but left no wheel"
    return f"the cross build failed (exit status {found.status})"


def _run_reason(result: BuildxResult) -> str:
    if result.timed_out:
        return f"the buildx run hit its overall time limit after {result.seconds:.0f}s"
    if result.returncode != 0:
        errors = [line.strip() for line in result.tail if "ERROR" in line]
        last = f": {errors[-1]}" if errors else ""
        return f"the buildx run failed (exit {result.returncode}){last}"
    return "the buildx run exported nothing for it"


def _fits(wheel: Path, target: Target) -> bool:
    """One of the wheel's tags is one the target installs."""
    try:
        tags = parse_wheel_filename(wheel.name)[3]
    except InvalidWheelFilename:
        return False
    return any(tag in target.tag_rank for tag in tags)


def give_up_cross(  # noqa: PLR0917
    prepared: Prepared,
    reason: str,
    ctx: BuildContext,
    outcome: Outcome,
    log: str = "",
    log_path: Path | None = None,
) -> Prepared | None:
    """``auto``: build it again under QEMU (returned), saying why; forced: a failure."""
    target = prepared.inputs.target_id
    if prepared.choice.fallback:
        emit(ctx, target, "fallback", prepared.name, reason)
        return replace(prepared, mode="emulate", cross=None, fallback_reason=reason)
    failure = make_failure(
        prepared.package, f"cross build ({prepared.choice.reason}): {reason}", log, log_path
    )
    outcome.failures.append(failure)
    emit(ctx, target, "package-failed", prepared.name, failure.reason)
    return None


def _save_cross_files(
    target: Target, package: PackagePlan, log: str, check: CheckResult, ctx: BuildContext
) -> Path | None:
    """``<name>-<version>.cross.log`` and ``.check.json`` beside the package's build log
    (which a QEMU build after a failed cross build writes); the log's path."""
    where = ctx.log_dir / target.id
    where.mkdir(parents=True, exist_ok=True)
    stem = f"{package.name}-{package.version}"
    if check.report:
        (where / f"{stem}.check.json").write_text(check.report, encoding="utf-8")
    if not log:
        return None
    path = where / f"{stem}.cross.log"
    path.write_text(log, encoding="utf-8")
    return path


def _store(  # noqa: PLR0917
    prepared: Prepared,
    found: PackageResult,
    took: float,
    log_path: Path | None,
    ctx: BuildContext,
    outcome: Outcome,
    check_seconds: float | None = None,
) -> BuildFailure | None:
    strangers = [w.name for w in found.wheels if _wheel_name(w) != prepared.name]
    if strangers:
        reason = f"the build produced wheel(s) of another project: {', '.join(strangers)}"
        return make_failure(prepared.package, reason, found.log, log_path)
    try:
        for wheel in found.wheels:
            canonicalize(wheel, build_epoch(prepared))
    except CanonicalError as exc:
        reason = f"the built wheel cannot be rewritten canonically: {exc}"
        return make_failure(prepared.package, reason, found.log, log_path)
    meta = BuiltMeta(
        name=prepared.name,
        version=prepared.package.version,
        sdist_sha256=prepared.inputs.sdist_sha256,
        base_image_digest=prepared.inputs.base_image_digest,
        build_seconds=took,
        built_at=ctx.now().isoformat(timespec="seconds"),
        build_mode=prepared.mode,
        fallback_reason=prepared.fallback_reason,
        check_seconds=check_seconds,
    )
    entry = ctx.cache.store(prepared.inputs.key, found.wheels, meta, prepared.inputs)
    outcome.artifacts += artifacts_of(prepared, entry, cached=False)
    built = entry.meta.wheels[0] + _MODE_NOTES.get(prepared.mode, "")
    if prepared.fallback_reason is not None:
        built += " (under QEMU, after the cross build failed)"
    emit(ctx, prepared.inputs.target_id, "package-built", prepared.name, built, took)
    return None


_MODE_NOTES: dict[str, str] = {"cross": " (cross-compiled, checked on the target)"}


def _wheel_name(wheel: Path) -> NormalizedName | None:
    try:
        return parse_wheel_filename(wheel.name)[0]
    except InvalidWheelFilename:
        return None


def _package_failure(package: PackagePlan, found: PackageResult, log: Path | None) -> BuildFailure:
    if found.status == 124:
        reason = "the build timed out (per-package time limit)"
    elif found.status == 0:
        reason = "the build succeeded but left no wheel"
    else:
        reason = f"the build failed (exit status {found.status})"
    return make_failure(package, reason, found.log, log)


def _run_failure(package: PackagePlan, result: BuildxResult, run_log: Path | None) -> BuildFailure:
    if result.timed_out:
        reason = f"the buildx run hit its overall time limit after {result.seconds:.0f}s"
    elif result.returncode != 0:
        reason = f"the buildx run failed (exit {result.returncode}) before this package was built"
    else:
        reason = "the buildx run succeeded but exported nothing for this package"
    return make_failure(package, reason, "\n".join(result.tail), run_log)
