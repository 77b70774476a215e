"""A package's build recipe in a build: its files in the context and its part of the key.

``recipes/<name>/`` in the build context holds what ``build-wheel.sh`` reads (it is
mounted into both the emulated and the cross stage of the package):

- ``env``: ``export NAME='value'`` lines, sourced before the build (target references
  such as ``${TARGET_ARCH}`` already replaced on the host);
- ``config-settings``: one ``KEY=VALUE`` per line, each a ``pip wheel --config-settings``;
- ``patches/0001-<file>`` ...: applied in order with ``patch -p1`` to the unpacked sdist;
- ``before-build.sh``: run with ``sh`` in the unpacked sdist, offline, before ``pip wheel``;
- ``auditwheel-exclude``: one soname a line, each an ``auditwheel repair --exclude`` (the
  knowledge file's ``system_libraries``: libraries the runtime image provides).

A package without a build recipe gets an empty directory (the mount must exist).
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from orchestrator.config import Recipe
from orchestrator.model import RecipeSummary
from orchestrator.targets import Target

RECIPES_DIR = "recipes"
ENV_FILE = "env"
SETTINGS_FILE = "config-settings"
PATCHES_DIR = "patches"
BEFORE_BUILD_FILE = "before-build.sh"
EXCLUDE_FILE = "auditwheel-exclude"

_REFERENCE = re.compile(r"\$\{([A-Z_]+)\}")


def target_values(target: Target) -> dict[str, str]:
    """What ``${NAME}`` in a recipe's env and config settings stands for, per target."""
    return {
        "TARGET_ARCH": target.arch.value,
        "TARGET_ID": target.id,
        "PLATFORM_TAG": target.platform_tag,
        "PYTHON_VERSION": target.python_version,
        "TARGET_LIBC": target.libc,
    }


def expand(value: str, target: Target) -> str:
    """``${TARGET_ARCH}`` and friends replaced; any other ``${...}`` is kept as written."""
    values = target_values(target)
    return _REFERENCE.sub(lambda m: values.get(m.group(1), m.group(0)), value)


def recipe_digest(recipe: Recipe, target: Target) -> str:
    """sha256 over what changes the build: env, config settings, patches' bytes and
    before_build; empty for a recipe that changes nothing in the build."""
    if not recipe.builds_differently:
        return ""
    data = {
        "env": [[k, expand(v, target)] for k, v in recipe.env],
        "config_settings": [[k, expand(v, target)] for k, v in recipe.config_settings],
        "patches": [patch_sha256(p) for p in recipe.patches],
        "before_build": recipe.before_build,
    }
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def recipe_summary(recipe: Recipe, target: Target) -> RecipeSummary:
    """What ``plan`` shows of ``recipe`` on ``target`` (reads the patch files)."""
    return RecipeSummary(
        env=tuple(k for k, _ in recipe.env),
        config_settings=tuple((k, expand(v, target)) for k, v in recipe.config_settings),
        patches=tuple((p.name, patch_sha256(p)) for p in recipe.patches),
        before_build=recipe.before_build,
        test=recipe.test,
        imports=recipe.imports,
    )


def patch_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_recipe(
    directory: Path, recipe: Recipe, target: Target, *, exclude: tuple[str, ...] = ()
) -> None:
    """The recipe's files for ``build-wheel.sh`` in ``directory`` (created, maybe empty);
    ``exclude``: the sonames auditwheel must leave to the system."""
    directory.mkdir(parents=True, exist_ok=True)
    if exclude:
        (directory / EXCLUDE_FILE).write_text("\n".join(exclude) + "\n", encoding="utf-8")
    if recipe.env:
        lines = [f"export {k}={_shell_quote(expand(v, target))}" for k, v in recipe.env]
        (directory / ENV_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")
    if recipe.config_settings:
        lines = [f"{k}={expand(v, target)}" for k, v in recipe.config_settings]
        (directory / SETTINGS_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")
    if recipe.patches:
        patches = directory / PATCHES_DIR
        patches.mkdir()
        for i, patch in enumerate(recipe.patches, start=1):
            (patches / f"{i:04d}-{patch.name}").write_bytes(patch.read_bytes())
    if recipe.before_build is not None:
        (directory / BEFORE_BUILD_FILE).write_text(recipe.before_build + "\n", encoding="utf-8")


def _shell_quote(value: str) -> str:
    return "'" + value.replace("'", "'\"'\"'") + "'"
