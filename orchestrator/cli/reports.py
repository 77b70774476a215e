"""Reports of ``build`` and ``verify``: JSON for machines (``--json``), Markdown for people.

Both JSON documents are documented contracts (format 1; keys may be added, a change of
meaning bumps ``format``).

``wheelhouse build --json``::

    {"format": 1, "ok": bool,
     "targets": [{"id": str, "wheels": int, "downloaded": int, "cached": int,
                  "built": [{"name", "version", "file", "seconds", "sdist_sha256",
                             "base_image_digest", "build_mode", "fallback_reason",
                             "check_seconds"}],
                  "failures": [{"name", "version", "reason", "log": <path> | null,
                                "log_tail": str, "hint": str | null}],
                  "seconds": float, "wheelhouse": <path> | null}]}

``wheels`` counts every wheel of the target: ``downloaded`` (from the index) + ``built``
(a build ran) + ``cached`` (built earlier, taken from wheelhouse's build cache). A built
wheel's ``build_mode`` is ``native``, ``cross`` (cross-compiled, then checked on the target
in ``check_seconds``) or ``emulate`` (QEMU); ``fallback_reason`` says why a cross build was
given up for a QEMU build (``null`` when it was not). A failure's
``hint`` is what its log suggests is missing: one line, then the wheelhouse.yaml lines that
would add it (or ``#`` comments when no ``packages:`` entry can).

``wheelhouse verify --json``::

    {"format": 1, "ok": bool,
     "targets": [{"id": str, "image": str, "ok": bool, "install_ok": bool,
                  "seconds": float, "error": str | null, "hint": str | null,
                  "install_log_tail": str,
                  "packages": [{"name", "version", "installed": bool, "ok": bool,
                                "error": str | null,
                                "imports": {"<module>": "ok" | "<ExcType>: message"},
                                "test": null | {"command": str, "returncode": int | null,
                                                "ok": bool, "output": str},
                                "hints": [str]}]}]}

A package's ``test`` is its recipe's ``test`` command as verify ran it in the clean
container (``null``: the package has none): its exit code and its output's tail.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from orchestrator.build.reproduce import Reproduction
from orchestrator.model import Artifact, BuildFailure, TargetBuild
from orchestrator.wheelhouse.collect import WheelhouseResult
from orchestrator.wheelhouse.report import PackageVerify, VerifyReport

REPORT_FORMAT = 1

#: Lines of a failed build's log the Markdown summary shows.
SUMMARY_LOG_LINES = 20


# --- build -------------------------------------------------------------------------------------


def build_report(
    builds: Sequence[TargetBuild],
    *,
    wheelhouses: Mapping[str, WheelhouseResult] | None = None,
) -> dict[str, Any]:
    """The ``build --json`` document; ``wheelhouses`` maps target ids to what collect wrote."""
    published = wheelhouses or {}
    return {
        "format": REPORT_FORMAT,
        "ok": not any(b.failures for b in builds),
        "targets": [_build_target(b, published.get(b.target.id)) for b in builds],
    }


def _build_target(build: TargetBuild, wheelhouse: WheelhouseResult | None) -> dict[str, Any]:
    return {
        "id": build.target.id,
        "wheels": len(build.artifacts),
        "built": [_built(a) for a in _fresh_builds(build)],
        "downloaded": sum(1 for a in build.artifacts if a.origin == "pypi"),
        "cached": sum(1 for a in build.artifacts if a.origin == "built" and a.cached),
        "failures": [_failure(f) for f in build.failures],
        "seconds": round(build.build_seconds, 3),
        "wheelhouse": str(wheelhouse.path) if wheelhouse else None,
    }


def _fresh_builds(build: TargetBuild) -> list[Artifact]:
    return sorted(
        (a for a in build.artifacts if a.origin == "built" and not a.cached),
        key=lambda a: a.name,
    )


def _built(artifact: Artifact) -> dict[str, Any]:
    return {
        "name": artifact.name,
        "version": artifact.version,
        "file": artifact.path.name,
        "seconds": artifact.build_seconds,
        "sdist_sha256": artifact.sdist_sha256,
        "base_image_digest": artifact.base_image_digest,
        "build_mode": artifact.build_mode,
        "fallback_reason": artifact.fallback_reason,
        "check_seconds": artifact.check_seconds,
    }


def _failure(failure: BuildFailure) -> dict[str, Any]:
    return {
        "name": failure.name,
        "version": failure.version,
        "reason": failure.reason,
        "log": str(failure.log_path) if failure.log_path else None,
        "log_tail": failure.log_tail,
        "hint": failure.hint,
    }


def build_summary_markdown(
    builds: Sequence[TargetBuild],
    *,
    wheelhouses: Mapping[str, WheelhouseResult] | None = None,
) -> str:
    """Counts per target, what was built and how long it took, what failed and why."""
    report = build_report(builds, wheelhouses=wheelhouses)
    lines = [
        "## wheelhouse build",
        "",
        "| target | wheels | downloaded | built | from cache | failed | seconds |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for t in report["targets"]:
        lines.append(
            f"| `{t['id']}` | {t['wheels']} | {t['downloaded']} | {len(t['built'])} "
            f"| {t['cached']} | {len(t['failures'])} | {t['seconds']:.1f} |"
        )
    for t in report["targets"]:
        lines += _build_details(t)
    return "\n".join(lines) + "\n"


def _build_details(target: Mapping[str, Any]) -> list[str]:
    if not target["built"] and not target["failures"]:
        return []
    lines = ["", f"### `{target['id']}`", ""]
    for b in target["built"]:
        took = f" in {b['seconds']:.1f} s" if b["seconds"] is not None else ""
        how = _MODE_WORDS.get(b.get("build_mode") or "", "")
        lines.append(f"- built **{_md(b['name'])}** {_md(b['version'])}{how}{took}: `{b['file']}`")
        if b.get("fallback_reason"):
            why = _md(b["fallback_reason"])
            lines.append(f"  - under QEMU because the cross build failed: {why}")
    for f in target["failures"]:
        lines.append(f"- :x: **{_md(f['name'])}** {_md(f['version'])} failed: {_md(f['reason'])}")
        if f["hint"]:
            lines += _hint_lines(f["hint"])
        if f["log"]:
            lines.append(f"  (full log: `{f['log']}`)")
        if f["log_tail"]:
            lines += _log_block(f["log_tail"])
    return lines


#: How the Markdown summary says a wheel was built.
_MODE_WORDS = {"cross": " (cross-compiled)", "emulate": " (QEMU)", "native": ""}


def _hint_lines(hint: str) -> list[str]:
    """The hint's sentence, then its wheelhouse.yaml lines as a block to copy."""
    sentence, _, snippet = hint.partition("\n")
    lines = [f"  - likely fix: {_md(sentence)}"]
    if snippet.strip():
        block = [f"    {line}" for line in snippet.splitlines()]
        lines += ["", "    ```yaml", *block, "    ```", ""]
    return lines


# --- verify ------------------------------------------------------------------------------------


def verify_report(reports: Sequence[VerifyReport]) -> dict[str, Any]:
    """The ``verify --json`` document."""
    return {
        "format": REPORT_FORMAT,
        "ok": all(r.ok for r in reports),
        "targets": [_verify_target(r) for r in reports],
    }


def _verify_target(report: VerifyReport) -> dict[str, Any]:
    return {
        "id": report.target.id,
        "image": report.image,
        "ok": report.ok,
        "install_ok": report.install_ok,
        "seconds": round(report.seconds, 3),
        "error": report.error,
        "hint": report.hint,
        "install_log_tail": report.install_log_tail,
        "packages": [_verify_package(p) for p in report.packages],
    }


def _verify_package(package: PackageVerify) -> dict[str, Any]:
    return {
        "name": package.name,
        "version": package.version,
        "installed": package.installed,
        "ok": package.ok,
        "error": package.error,
        "imports": dict(package.imports),
        "test": _test(package),
        "hints": list(package.hints),
    }


def _test(package: PackageVerify) -> dict[str, Any] | None:
    if package.test is None:
        return None
    return {
        "command": package.test,
        "returncode": package.test_returncode,
        "ok": not package.test_failed,
        "output": package.test_output,
    }


def reproducible_report(found: Sequence[Reproduction]) -> dict[str, Any]:
    """``build --json``'s ``reproducible`` (with ``--check-reproducible``): per target,
    each built package with ``identical`` and, when not, ``difference`` and ``kept``."""
    targets: dict[str, list[dict[str, object]]] = {}
    for r in found:
        targets.setdefault(r.target, []).append(r.to_json())
    return {"ok": all(r.identical for r in found), "targets": targets}


def reproducible_markdown(found: Sequence[Reproduction]) -> str:
    """One row per package built twice: identical, or the first difference."""
    lines = [
        "## wheelhouse build --check-reproducible",
        "",
        "| target | package | result |",
        "| --- | --- | --- |",
    ]
    for r in found:
        result = ":white_check_mark: identical" if r.identical else f":x: {_md(r.difference or '')}"
        lines.append(f"| `{r.target}` | {_md(r.name)} {_md(r.version)} | {result} |")
    kept = [p for r in found for p in r.kept]
    if kept:
        lines += ["", "The second build's wheels: " + ", ".join(f"`{p}`" for p in kept)]
    return "\n".join(lines) + "\n"


def verify_summary_markdown(reports: Sequence[VerifyReport]) -> str:
    """One row per target, then every failure with its likely fix."""
    lines = [
        "## wheelhouse verify",
        "",
        "| target | runtime image | result | packages | failed | seconds |",
        "| --- | --- | --- | ---: | ---: | ---: |",
    ]
    for r in reports:
        result = ":white_check_mark: ok" if r.ok else ":x: failed"
        lines.append(
            f"| `{r.target.id}` | `{_md(r.image)}` | {result} | {len(r.packages)} "
            f"| {len(r.failed)} | {r.seconds:.1f} |"
        )
    for r in reports:
        if not r.ok:
            lines += _verify_details(r)
    return "\n".join(lines) + "\n"


def _verify_details(report: VerifyReport) -> list[str]:
    lines = ["", f"### `{report.target.id}`", ""]
    if report.error:
        fix = f" — fix: {_md(report.hint)}" if report.hint else ""
        lines.append(f"- {_md(report.error)}{fix}")
    for p in report.failed:
        if not p.installed:
            lines.append(f"- **{_md(p.name)}** not installed: {_md(p.error or 'see the log')}")
        for module, result in p.failed_imports.items():
            lines.append(f"- **{_md(p.name)}**: `import {module}` failed: {_md(result)}")
        if p.test_failed:
            lines.append(f"- **{_md(p.name)}**: test `{p.test}` failed (exit {p.test_returncode}):")
            lines += _log_block(p.test_output or "(no output)")
        lines += [f"  - fix: {_md(h)}" for h in p.hints]
    if not report.install_ok and report.install_log_tail:
        lines += ["", "Install log (tail):", *_log_block(report.install_log_tail)]
    return lines


# --- GitHub Actions ------------------------------------------------------------------------------


def write_step_summary(markdown: str, environ: Mapping[str, str]) -> Path | None:
    """Append ``markdown`` to ``$GITHUB_STEP_SUMMARY`` (as GitHub's own steps do), if set."""
    target = environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return None
    path = Path(target)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(markdown if markdown.endswith("\n") else markdown + "\n")
    return path


def _log_block(text: str) -> list[str]:
    tail = text.splitlines()[-SUMMARY_LOG_LINES:]
    fence = "````" if any(line.startswith("```") for line in tail) else "```"
    return [
        "",
        "  <details><summary>log</summary>",
        "",
        f"  {fence}text",
        *(f"  {line}" for line in tail),
        f"  {fence}",
        "  </details>",
        "",
    ]


def _md(text: str | None) -> str:
    """Inline text safe in a Markdown table cell or list item."""
    return (text or "").replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").strip()
