"""build.secret_env: the schema, the environment check, the Dockerfile mounts, buildx's
flags, the redaction, and build-wheel.sh's export and log redaction (run on the host)."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from dataclasses import replace
from pathlib import Path

import pytest

from orchestrator.build.dockerfile import build_script, render_dockerfile
from orchestrator.build.engine import BuildxRequest, DockerEngine
from orchestrator.build.secrets import (
    SECRETS_DIR,
    BuildSecrets,
    secret_mounts,
    secrets_from_environment,
)
from orchestrator.config import parse_config
from orchestrator.errors import ConfigError
from tests.unit.build.test_dockerfile import spec
from tests.unit.build.test_dockerfile_cross import spec as cross_spec

VALUE = "s3cr3t-v4lue"


def test_the_names_are_read_in_order(tmp_path: Path) -> None:
    config = parse_config({"build": {"secret_env": ["B_TOKEN", "A_KEY"]}}, tmp_path / "w.yaml")
    assert config.secret_env == ("B_TOKEN", "A_KEY")
    assert parse_config({}, tmp_path / "w.yaml").secret_env == ()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (["TOKEN=abc"], "build.secret_env[0]: 'TOKEN=abc' is not an environment variable name"),
        (["OK", "9LIVES"], "build.secret_env[1]: '9LIVES' is not"),
        (["A", "A"], "build.secret_env: listed twice: A"),
        ({"A": 1}, "build.secret_env: expected a list of strings"),
    ],
)
def test_bad_names_are_refused_with_the_field(tmp_path: Path, value: object, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"build": {"secret_env": value}}, tmp_path / "w.yaml")
    assert message in caught.value.message
    assert str(tmp_path / "w.yaml") in caught.value.message


def test_a_name_not_set_is_an_error_naming_it_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        secrets_from_environment(("SET", "UNSET"), {"SET": "x"}, tmp_path / "w.yaml")
    assert "build.secret_env names UNSET, not set" in caught.value.message
    assert caught.value.hint is not None and "export UNSET=" in caught.value.hint
    found = secrets_from_environment(("SET",), {"SET": "x", "OTHER": "y"}, None)
    assert found.values == {"SET": "x"}


def test_redact_replaces_every_value_longest_first_and_repr_hides_them() -> None:
    secrets = BuildSecrets({"A": "abc", "B": "abcdef", "EMPTY": ""})
    assert secrets.redact("x abcdef y abc z") == "x *** y *** z"
    assert "abc" not in repr(secrets)
    assert BuildSecrets().redact("abc") == "abc"


def test_every_package_stage_mounts_each_secret_and_no_value_is_written() -> None:
    for rendered in (
        render_dockerfile(replace(spec(), secrets=("TOKEN",))),
        render_dockerfile(replace(cross_spec(), secrets=("TOKEN",))),
    ):
        runs = [part for part in rendered.split("\nRUN ") if "build-wheel.sh " in part]
        assert runs
        mount = f"--mount=type=secret,id=TOKEN,target={SECRETS_DIR}/TOKEN,required=true"
        assert all(mount in run for run in runs)
    plain = render_dockerfile(spec())
    assert "type=secret" not in plain
    assert secret_mounts(()) == ""


def test_unsafe_names_never_reach_the_dockerfile() -> None:
    with pytest.raises(ValueError, match="unsafe"):
        render_dockerfile(replace(spec(), secrets=("A B",)))


def test_buildx_takes_each_secret_from_its_environment(tmp_path: Path) -> None:
    request = BuildxRequest(
        context=tmp_path,
        dockerfile=tmp_path / "Dockerfile",
        platform="linux/amd64",
        output_dir=tmp_path / "out",
        secrets=("TOKEN", "KEY"),
    )
    args = DockerEngine(builder=None, popen=None).buildx_args(request)
    assert args[args.index("--secret") : args.index("--secret") + 4] == [
        *("--secret", "id=TOKEN,env=TOKEN", "--secret", "id=KEY,env=KEY"),
    ]


def test_the_script_exports_the_secret_and_redacts_it_from_the_log(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "TOKEN").write_text(VALUE + "\n")
    sdist = tmp_path / "demo-1.0.tar.gz"
    (tmp_path / "demo-1.0").mkdir()
    (tmp_path / "demo-1.0" / "setup.py").write_text("")
    with tarfile.open(sdist, "w:gz") as archive:
        archive.add(tmp_path / "demo-1.0", "demo-1.0")
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(sys.executable)
    pip = venv / "bin" / "pip"  # prints the secret, as a careless build would
    pip.write_text(
        '#!/bin/sh\necho "token is $TOKEN"\n'
        'while [ "$1" != "-w" ]; do shift; done; touch "$2/demo-1.0-py3-none-any.whl"\n'
    )
    pip.chmod(0o755)
    out = tmp_path / "out"
    args = ["sh", str(build_script()), "demo", str(sdist), str(tmp_path), "60"]
    args += ["manylinux_2_36_x86_64", str(venv)]
    env = {
        **os.environ,
        "WHEELHOUSE_OUT": str(out),
        "WHEELHOUSE_WORK": str(tmp_path / "work"),
        "WHEELHOUSE_SECRETS": str(secrets),
    }
    subprocess.run(args, env=env, check=True)
    log = (out / "demo" / "build.log").read_text()
    assert (out / "demo" / "status").read_text().strip() == "0", log
    assert "wheelhouse: secret env: TOKEN" in log
    assert "token is ***" in log  # it was set for the build ...
    assert VALUE not in log  # ... and never kept
