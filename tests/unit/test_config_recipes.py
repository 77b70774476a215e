"""wheelhouse.yaml ``packages.<name>`` recipes: env, config_settings, patches, before_build,
test, imports; and the errors that name the field and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.config import Recipe, parse_config
from orchestrator.errors import ConfigError
from orchestrator.session import Session


def recipe(tmp_path: Path, entry: dict[str, object]) -> Recipe:
    config = parse_config({"packages": {"Demo_Pkg": entry}}, tmp_path / "wheelhouse.yaml")
    return config.packages["demo-pkg"].recipe  # type: ignore[index]


def error(tmp_path: Path, entry: dict[str, object]) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        recipe(tmp_path, entry)
    return caught.value


def test_every_recipe_field_is_read(tmp_path: Path) -> None:
    (tmp_path / "patches").mkdir()
    (tmp_path / "patches" / "a.patch").write_text("")
    got = recipe(
        tmp_path,
        {
            "env": {"CFLAGS": "-O2", "ARCH": "${TARGET_ARCH}"},
            "config_settings": {"--build-option": "--with-x"},
            "patches": ["patches/a.patch"],
            "before_build": "make -C lib",
            "test": "demo --version",
            "imports": ["demo", "demo.fast"],
        },
    )
    assert got == Recipe(
        env=(("CFLAGS", "-O2"), ("ARCH", "${TARGET_ARCH}")),
        config_settings=(("--build-option", "--with-x"),),
        patches=(tmp_path / "patches" / "a.patch",),
        before_build="make -C lib",
        test="demo --version",
        imports=("demo", "demo.fast"),
    )
    assert got.builds_differently and not got.empty


def test_no_recipe_is_empty(tmp_path: Path) -> None:
    assert recipe(tmp_path, {"apt": ["libfoo-dev"]}).empty


def test_an_unknown_recipe_key_gets_a_did_you_mean(tmp_path: Path) -> None:
    exc = error(tmp_path, {"before_biuld": "x"})
    assert exc.message.endswith("packages.Demo_Pkg.before_biuld: unknown key")
    assert exc.hint == "did you mean `before_build`?"


def test_a_missing_patch_file_names_the_field_and_the_path(tmp_path: Path) -> None:
    exc = error(tmp_path, {"patches": ["fix.patch"]})
    where = tmp_path / "wheelhouse.yaml"
    assert exc.message == (
        f"{where}: packages.Demo_Pkg.patches[0]: patch file not found: {tmp_path / 'fix.patch'}"
    )
    assert "relative to wheelhouse.yaml" in (exc.hint or "")


def test_an_env_value_that_is_not_a_string(tmp_path: Path) -> None:
    exc = error(tmp_path, {"env": {"JOBS": 4}})
    assert exc.message.endswith("packages.Demo_Pkg.env.JOBS: expected a string, got 4")
    assert exc.hint == 'quote the value: JOBS: "4"'


def test_an_env_that_is_not_a_mapping(tmp_path: Path) -> None:
    exc = error(tmp_path, {"env": ["CFLAGS=-O2"]})
    assert "packages.Demo_Pkg.env: expected a mapping of names to strings" in exc.message


def test_a_bad_env_name(tmp_path: Path) -> None:
    exc = error(tmp_path, {"env": {"MY-FLAG": "1"}})
    assert "packages.Demo_Pkg.env.MY-FLAG: 'MY-FLAG' is not an environment variable name" in (
        exc.message
    )


def test_a_test_that_is_not_a_string(tmp_path: Path) -> None:
    exc = error(tmp_path, {"test": ["demo", "--version"]})
    assert exc.message.endswith(
        "packages.Demo_Pkg.test: expected a non-empty string, got ['demo', '--version']"
    )
    assert exc.hint == "e.g. test: ..."


def test_a_config_setting_that_is_not_a_string(tmp_path: Path) -> None:
    exc = error(tmp_path, {"config_settings": {"debug": True}})
    assert exc.message.endswith(
        "packages.Demo_Pkg.config_settings.debug: expected a string, got True"
    )


def test_an_import_that_is_not_a_module_name(tmp_path: Path) -> None:
    exc = error(tmp_path, {"imports": ["demo-pkg"]})
    assert exc.message.endswith("packages.Demo_Pkg.imports[0]: 'demo-pkg' is not a module name")


# --- the knowledge file's verify defaults under wheelhouse.yaml's recipes ---------------------


def _session_recipes(tmp_path: Path, packages: str) -> dict[str, Recipe]:
    (tmp_path / "requirements.txt").write_text("uwsgi==2.0.28\n", encoding="utf-8")
    config = tmp_path / "wheelhouse.yaml"
    config.write_text(
        f"requirements: requirements.txt\ntargets: [cp311-manylinux_2_36_aarch64]\n{packages}",
        encoding="utf-8",
    )
    return {str(k): v for k, v in Session.open(config, None, [], []).recipes.items()}


def test_the_knowledge_files_test_and_imports_apply_without_a_recipe(tmp_path: Path) -> None:
    recipes = _session_recipes(tmp_path, "")
    assert recipes["uwsgi"] == Recipe(test="uwsgi --version", imports=())


def test_wheelhouse_yaml_wins_field_by_field_over_the_knowledge_file(tmp_path: Path) -> None:
    own_test = "packages:\n  uwsgi:\n    test: uwsgi --help\n    env: {A: b}\n"
    assert _session_recipes(tmp_path, own_test)["uwsgi"] == Recipe(
        env=(("A", "b"),), test="uwsgi --help", imports=()
    )
    own_imports = "packages:\n  uwsgi:\n    imports: [uwsgidecorators]\n"
    assert _session_recipes(tmp_path, own_imports)["uwsgi"] == Recipe(
        test="uwsgi --version", imports=("uwsgidecorators",)
    )
