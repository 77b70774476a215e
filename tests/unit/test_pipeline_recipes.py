"""The recipe a built wheel was built with reaches its manifest entry (pipeline wiring)."""

from __future__ import annotations

from pathlib import Path

from packaging.utils import canonicalize_name

from orchestrator.model import Artifact, PackagePlan, RecipeSummary, TargetBuild, TargetPlan
from orchestrator.pipeline import _with_build_recipes
from orchestrator.targets import Target

TARGET = Target.parse("cp311-manylinux_2_36_x86_64")
BUILDS = RecipeSummary(env=("A",), test="t")
VERIFY_ONLY = RecipeSummary(test="t")


def _artifact(name: str, origin: str) -> Artifact:
    return Artifact(
        name=canonicalize_name(name),
        version="1",
        path=Path(f"/w/{name}-1-py3-none-any.whl"),
        sha256="0" * 64,
        origin="built" if origin == "built" else "pypi",
    )


def _plan(name: str, recipe: RecipeSummary) -> PackagePlan:
    return PackagePlan(name=canonicalize_name(name), version="1", action="build", recipe=recipe)


def test_built_wheels_get_their_build_recipe_and_nothing_else_does() -> None:
    plan = TargetPlan(
        target=TARGET,
        packages=(_plan("a", BUILDS), _plan("b", BUILDS), _plan("c", VERIFY_ONLY)),
    )
    build = TargetBuild(
        target=TARGET,
        artifacts=(_artifact("a", "built"), _artifact("b", "pypi"), _artifact("c", "built")),
    )
    recipes = {str(a.name): a.recipe for a in _with_build_recipes(plan, build).artifacts}
    assert recipes == {"a": BUILDS, "b": None, "c": None}
