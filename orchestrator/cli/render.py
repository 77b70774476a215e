"""Human-readable tables for plans. Pure: returns text, never prints."""

from __future__ import annotations

from collections.abc import Sequence

from orchestrator.model import PackagePlan, Plan, RecipeSummary, TargetPlan
from orchestrator.urls import shown_location

_ACTION_WORD = {"download": "wheel", "build": "build", "error": "ERROR", "app": "app"}
#: PACKAGE, VERSION, ACTION, MODE, then the free text of FILE / REASON.
_Row = tuple[str, str, str, str, str]


def plan_table(plan: Plan, *, images: dict[str, str] | None = None) -> str:
    blocks = [_target_table(t, (images or {}).get(t.target.id)) for t in plan.targets]
    lines = ["\n\n".join(blocks)]
    lines.extend(f"warning: {w}" for w in plan.warnings)
    return "\n".join(lines)


def _target_table(tp: TargetPlan, image: str | None) -> str:
    target = tp.target
    # Markers are evaluated with this version: say when it is X.Y.0 for want of knowing.
    python = f"Python {target.python_full_version}" + (
        " assumed" if target.python_micro is None else ""
    )
    header = target.id + (f"  (builds in {image}; {python})" if image else f"  ({python})")
    if tp.error is not None:
        # Not planned at all: say why, indented as a row's detail; the others are planned.
        why = "\n".join(f"  {line.strip()}" for line in tp.error.splitlines())
        return f"{target.id}\n  ERROR: this target cannot be planned\n{why}"
    rows: list[_Row] = [("PACKAGE", "VERSION", "ACTION", "MODE", "FILE / REASON")]
    for pkg in tp.packages:
        rows.extend(_rows(pkg))
    counts = tp.counts
    summary = (
        f"{_n(counts['download'], 'wheel')}, {_n(counts['build'], 'build')}, "
        f"{_n(counts['error'], 'error')}"
    ) + (f", {counts['app']} app (not built)" if counts["app"] else "")
    return "\n".join([header, *_columns(rows), summary])


def _rows(pkg: PackagePlan) -> list[_Row]:
    detail = pkg.file or pkg.reason
    rows: list[_Row] = [
        (pkg.name, pkg.version, _ACTION_WORD[pkg.action], pkg.build_mode or "", detail)
    ]
    if pkg.commit and pkg.repository:
        rows.append(_more(f"from: git {pkg.repository} at {pkg.commit}"))
    elif pkg.source and pkg.url:
        rows.append(_more(f"from: {pkg.source} {shown_location(pkg.url)}"))
    if pkg.action == "download" and pkg.reason:  # a yanked release: say so, as pip warns
        rows.append(_more(f"note: {pkg.reason}"))
    if pkg.action == "build":
        rows.append(_more(f"why: {pkg.reason}"))
        if pkg.build_mode_reason:
            rows.append(_more(f"mode: {pkg.build_mode_reason}"))
        if pkg.system_packages:
            rows.append(_more(f"system packages: {' '.join(pkg.system_packages)}"))
    if pkg.recipe is not None and pkg.action in ("build", "download"):
        rows.append(_more(f"recipe: {recipe_line(pkg.recipe, built=pkg.action == 'build')}"))
    return rows


#: Commands longer than this are cut in the table (``plan --json`` has them whole).
_COMMAND_WIDTH = 40


def recipe_line(recipe: RecipeSummary, *, built: bool) -> str:
    """``env A B; config_settings K=V; patches x.patch (sha256 1a2b3c4d); ...``; for a
    downloaded wheel, the parts that change only the build are said to be unused."""
    parts = []
    if recipe.env:
        parts.append(f"env {' '.join(recipe.env)}")
    if recipe.config_settings:
        parts.append(f"config_settings {' '.join(f'{k}={v}' for k, v in recipe.config_settings)}")
    if recipe.patches:
        patches = ", ".join(f"{name} (sha256 {sha[:12]})" for name, sha in recipe.patches)
        parts.append(f"patches {patches}")
    if recipe.before_build is not None:
        parts.append(f"before_build: {_cut(recipe.before_build)}")
    if recipe.test is not None:
        parts.append(f"test: {_cut(recipe.test)}")
    if recipe.imports is not None:
        parts.append(f"imports {' '.join(recipe.imports) or '(none)'}")
    line = "; ".join(parts)
    if not built and recipe.builds_differently:
        line += " (env, config_settings, patches and before_build are unused: a wheel is "
        line += "downloaded; force_build: true builds it)"
    return line


def _cut(command: str) -> str:
    flat = " ".join(command.split())
    return flat if len(flat) <= _COMMAND_WIDTH else flat[: _COMMAND_WIDTH - 3] + "..."


def _more(text: str) -> _Row:
    return ("", "", "", "", text)


def _columns(rows: Sequence[_Row]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return [
        "  " + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4]
        for row in rows
    ]


def _n(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")
