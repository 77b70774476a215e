"""wheelhouse.yaml: every error names the file, the field path and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from orchestrator.config import Config, PackageConfig, TargetConfig, load_config
from orchestrator.errors import ConfigError, TargetError
from orchestrator.targets import Arch, Target

ROOT = Path(__file__).resolve().parents[2]
MUSL_ARM = "cp312-musllinux_1_2_aarch64"
GLIBC_ARM = "cp312-manylinux_2_36_aarch64"
MUSL_X86 = "cp312-musllinux_1_2_x86_64"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "wheelhouse.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def config_error(tmp_path: Path, text: str) -> ConfigError:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return caught.value


# --- a good file ------------------------------------------------------------------


def test_a_full_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
requirements: app/requirements.txt
output: out
cache_dir: .cache
resolve: always
index:
  url: https://mirror.example/simple
  extra_urls: [https://extra.example/simple]
build:
  force_build: [CFFI, Pillow]
  timeout: 600
  builder: multi
targets:
  - cp312-musllinux_1_2_aarch64
  - id: cp312-manylinux_2_36_aarch64
    base_image: registry.example/py:3.12-bookworm
    runtime_image: registry.example/py:3.12-bookworm-slim
    system_packages: [python3-dev]
    python: python3.12
packages:
  RPi.GPIO:
    verify_import: false
  psycopg2:
    apt: [libpq-dev]
    apk: postgresql-dev
    runtime_apt: [libpq5]
    runtime_apk: [libpq]
  uwsgi:
    force_build: true
""",
    )

    config = load_config(path)

    assert config.path == path
    assert config.requirements == tmp_path / "app/requirements.txt"
    assert config.output == tmp_path / "out"
    assert config.cache_dir == tmp_path / ".cache"
    assert config.resolve == "always"
    assert config.index_url == "https://mirror.example/simple"
    assert config.extra_index_urls == ("https://extra.example/simple",)
    assert config.force_build == {"cffi", "pillow", "uwsgi"}
    assert config.build_timeout == 600
    assert config.builder == "multi"
    assert config.targets == (
        TargetConfig(
            target=Target.parse(MUSL_ARM),
            base_image="python:3.12-alpine",
            runtime_image="python:3.12-alpine",
            package_manager="apk",
        ),
        TargetConfig(
            target=Target.parse(GLIBC_ARM),
            base_image="registry.example/py:3.12-bookworm",
            runtime_image="registry.example/py:3.12-bookworm-slim",
            package_manager="apt",
            system_packages=("python3-dev",),
            python="python3.12",
        ),
    )
    assert config.packages == {
        "rpi-gpio": PackageConfig(verify_import=False),
        "psycopg2": PackageConfig(
            apt=("libpq-dev",),
            apk=("postgresql-dev",),
            runtime_apt=("libpq5",),
            runtime_apk=("libpq",),
        ),
        "uwsgi": PackageConfig(force_build=True),
    }


def test_an_empty_file_is_all_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "# nothing yet\n"))

    assert config == Config(
        path=tmp_path / "wheelhouse.yaml", requirements=None, output=tmp_path / "wheelhouse"
    )
    assert config.resolve == "auto"
    assert config.build_timeout == 1800


def test_no_path_and_no_file_is_an_empty_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    assert load_config(None) == Config(path=None, requirements=None, output=Path("wheelhouse"))


def test_no_path_reads_wheelhouse_yaml_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, f"targets: [{MUSL_ARM}]\n")
    monkeypatch.chdir(tmp_path)

    config = load_config(None)

    assert [tc.target.id for tc in config.targets] == [MUSL_ARM]


@pytest.mark.parametrize("path", ["wheelhouse.yaml", "examples/pi-backend/wheelhouse.local.yaml"])
def test_the_repositorys_own_files_load(path: str) -> None:
    config = load_config(ROOT / path)

    assert config.targets
    assert config.requirements is not None
    assert config.requirements.exists()


# --- defaults per target ----------------------------------------------------------


def test_musl_defaults_to_alpine_and_apk() -> None:
    assert TargetConfig.default(Target.parse(MUSL_ARM)) == TargetConfig(
        target=Target.parse(MUSL_ARM),
        base_image="python:3.12-alpine",
        runtime_image="python:3.12-alpine",
        package_manager="apk",
        system_packages=(),
        python="python3",
    )


def test_glibc_defaults_to_slim_and_apt() -> None:
    tc = TargetConfig.default(Target.parse("cp311-manylinux_2_36_x86_64"))

    assert (tc.base_image, tc.runtime_image, tc.package_manager) == (
        "python:3.11-slim",
        "python:3.11-slim",
        "apt",
    )


@pytest.mark.parametrize(
    ("image", "manager"),
    [
        ("alpine:3.20", "apk"),
        ("registry.example/team/python:3.12-alpine3.20", "apk"),
        ("registry.example/alpine-mirror/python:3.12-slim", "apt"),
        ("debian:bookworm", "apt"),
    ],
)
def test_package_manager_guessed_from_the_image(tmp_path: Path, image: str, manager: str) -> None:
    config = load_config(
        write(tmp_path, f"targets:\n  - id: {GLIBC_ARM}\n    base_image: {image}\n")
    )

    assert config.targets[0].package_manager == manager
    assert config.targets[0].runtime_image == image


def test_package_manager_given_wins(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            f"targets:\n  - id: {MUSL_ARM}\n    base_image: my/alpine\n    package_manager: none\n",
        )
    )

    assert config.targets[0].package_manager == "none"


# --- errors -------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as caught:
        load_config(path)

    assert caught.value.message == f"config file not found: {path}"
    assert caught.value.hint == (
        "create it (see the README's wheelhouse.yaml) or pass --config PATH"
    )
    assert int(caught.value.exit_code) == 2


def test_bad_yaml_names_the_line(tmp_path: Path) -> None:
    error = config_error(tmp_path, "output: out\ntargets:\n  - id: x\n bad: [\n")

    assert error.message.startswith(f"{tmp_path / 'wheelhouse.yaml'}:4: not valid YAML: ")
    assert error.hint == "fix the YAML syntax"


@pytest.mark.parametrize(
    ("text", "field", "hint"),
    [
        ("targes: []\n", "targes", "did you mean `targets`?"),
        ("outptu: out\n", "outptu", "did you mean `output`?"),
        (
            "colour: red\n",
            "colour",
            "known keys here: build, cache_dir, index, output, packages, requirements, "
            "resolve, targets",
        ),
        ("index:\n  urls: x\n", "index.urls", "did you mean `url`?"),
        ("build:\n  timout: 5\n", "build.timout", "did you mean `timeout`?"),
        (
            f"targets:\n  - id: {MUSL_ARM}\n  - id: {GLIBC_ARM}\n    base_imag: x\n",
            "targets[1].base_imag",
            "did you mean `base_image`?",
        ),
        (
            "packages:\n  psycopg2:\n    aptt: [libpq-dev]\n",
            "packages.psycopg2.aptt",
            "did you mean `apt`?",
        ),
    ],
)
def test_unknown_keys(tmp_path: Path, text: str, field: str, hint: str) -> None:
    error = config_error(tmp_path, text)

    assert error.message == f"{tmp_path / 'wheelhouse.yaml'}: {field}: unknown key"
    assert error.hint == hint


@pytest.mark.parametrize(
    ("text", "message", "hint"),
    [
        ("- a\n", "top level: expected a mapping of keys", "see the README's wheelhouse.yaml"),
        ("index: [x]\n", "index: expected a mapping of keys", "see the README's wheelhouse.yaml"),
        (
            "packages:\n  rpi-gpio:\n",
            "packages.rpi-gpio: expected a mapping of keys",
            "see the README's wheelhouse.yaml",
        ),
        (
            "requirements: 3\n",
            "requirements: expected a non-empty string, got 3",
            "e.g. requirements: ...",
        ),
        ("output: ''\n", "output: expected a non-empty string, got ''", "e.g. output: ..."),
        (
            "resolve: sometimes\n",
            "resolve: 'sometimes' is not one of auto, always, never",
            "use one of: auto, always, never",
        ),
        ("index:\n  url: 5\n", "index.url: expected a non-empty string, got 5", "e.g. url: ..."),
        (
            "index:\n  extra_urls: [1, 2]\n",
            "index.extra_urls: expected a list of strings, got [1, 2]",
            "e.g. extra_urls: [a, b]",
        ),
        (
            "build:\n  force_build: 3\n",
            "build.force_build: expected a list of strings, got 3",
            "e.g. force_build: [a, b]",
        ),
        (
            "build:\n  timeout: -1\n",
            "build.timeout: expected a positive whole number, got -1",
            "e.g. timeout: 1800",
        ),
        (
            "build:\n  timeout: true\n",
            "build.timeout: expected a positive whole number, got True",
            "e.g. timeout: 1800",
        ),
        (
            "build:\n  timeout: 1.5\n",
            "build.timeout: expected a positive whole number, got 1.5",
            "e.g. timeout: 1800",
        ),
        (
            f"targets: {MUSL_ARM}\n",
            "targets: expected a list of targets",
            "targets:\n  - id: cp312-musllinux_1_2_aarch64",
        ),
        (
            "targets:\n  - base_image: alpine\n",
            "targets[0]: missing `id`",
            "e.g. id: cp312-musllinux_1_2_aarch64",
        ),
        (
            "targets:\n  - 312\n",
            "targets[0]: expected a mapping of keys",
            "see the README's wheelhouse.yaml",
        ),
        (
            f"targets:\n  - id: {MUSL_ARM}\n  - id: {GLIBC_ARM}\n    base_image: 3\n",
            "targets[1].base_image: expected a non-empty string, got 3",
            "e.g. base_image: ...",
        ),
        (
            f"targets:\n  - id: {MUSL_ARM}\n    runtime_image: ' '\n",
            "targets[0].runtime_image: expected a non-empty string, got ' '",
            "e.g. runtime_image: ...",
        ),
        (
            f"targets:\n  - id: {MUSL_ARM}\n    package_manager: yum\n",
            "targets[0].package_manager: 'yum' is not one of apt, apk, none",
            "use one of: apt, apk, none",
        ),
        (
            f"targets:\n  - id: {MUSL_ARM}\n    system_packages: [gcc, 1]\n",
            "targets[0].system_packages: expected a list of strings, got ['gcc', 1]",
            "e.g. system_packages: [a, b]",
        ),
        (
            "targets:\n  - id: 312\n",
            "targets[0].id: expected a non-empty string, got 312",
            "e.g. id: ...",
        ),
        (
            "targets:\n  - id: cp312-musllinux_1_2_arm64\n",
            "targets[0].id: target id 'cp312-musllinux_1_2_arm64' names the architecture "
            "as 'arm64'",
            "target ids use the wheel tag name: aarch64",
        ),
        (
            "targets:\n  - id: cp312-manylinux_2_16_aarch64\n",
            "targets[0].id: target 'cp312-manylinux_2_16_aarch64': manylinux versions are "
            "glibc 2.x, at least 2_17 on aarch64",
            "e.g. cp312-manylinux_2_36_aarch64 for Debian bookworm (glibc 2.36)",
        ),
        (
            f"targets:\n  - {MUSL_ARM}\n  - {GLIBC_ARM}\n  - id: {MUSL_ARM}\n",
            f"targets: target listed twice: {MUSL_ARM}",
            "list each target once",
        ),
        (
            "packages:\n  psycopg2:\n    verify_import: 'no'\n",
            "packages.psycopg2.verify_import: expected true or false, got 'no'",
            "verify_import: true",
        ),
        (
            "packages:\n  uwsgi:\n    force_build: 1\n",
            "packages.uwsgi.force_build: expected true or false, got 1",
            "force_build: true",
        ),
        (
            "packages:\n  psycopg2:\n    apt: {libpq: dev}\n",
            "packages.psycopg2.apt: expected a list of strings, got {'libpq': 'dev'}",
            "e.g. apt: [a, b]",
        ),
    ],
)
def test_field_errors(tmp_path: Path, text: str, message: str, hint: str) -> None:
    error = config_error(tmp_path, text)

    assert error.message == f"{tmp_path / 'wheelhouse.yaml'}: {message}"
    assert error.hint == hint
    assert int(error.exit_code) == 2


# --- select_targets ---------------------------------------------------------------


def configured(tmp_path: Path) -> Config:
    return load_config(
        write(
            tmp_path,
            f"targets:\n  - id: {MUSL_ARM}\n    base_image: my/alpine:arm\n"
            f"  - id: {GLIBC_ARM}\n  - id: {MUSL_X86}\n",
        )
    )


def test_select_every_configured_target(tmp_path: Path) -> None:
    config = configured(tmp_path)

    assert config.select_targets() == config.targets


def test_select_a_configured_target_keeps_its_settings(tmp_path: Path) -> None:
    (tc,) = configured(tmp_path).select_targets([MUSL_ARM])

    assert tc.base_image == "my/alpine:arm"


def test_select_a_target_not_in_the_config_gets_defaults(tmp_path: Path) -> None:
    (tc,) = configured(tmp_path).select_targets(["cp311-manylinux_2_36_x86_64"])

    assert tc == TargetConfig.default(Target.parse("cp311-manylinux_2_36_x86_64"))
    assert (tc.base_image, tc.package_manager) == ("python:3.11-slim", "apt")


def test_select_ids_in_the_order_given_once_each(tmp_path: Path) -> None:
    chosen = configured(tmp_path).select_targets([MUSL_X86, MUSL_ARM, MUSL_X86])

    assert [tc.target.id for tc in chosen] == [MUSL_X86, MUSL_ARM]


@pytest.mark.parametrize("arch", ["arm64", "aarch64", "linux/arm64"])
def test_select_by_arch(tmp_path: Path, arch: str) -> None:
    chosen = configured(tmp_path).select_targets(arches=[arch])

    assert [tc.target.id for tc in chosen] == [MUSL_ARM, GLIBC_ARM]
    assert {tc.target.arch for tc in chosen} == {Arch.AARCH64}


def test_select_by_ids_and_arch(tmp_path: Path) -> None:
    chosen = configured(tmp_path).select_targets([MUSL_X86, GLIBC_ARM], ["amd64"])

    assert [tc.target.id for tc in chosen] == [MUSL_X86]


def test_select_by_an_arch_no_target_has(tmp_path: Path) -> None:
    with pytest.raises(TargetError) as caught:
        configured(tmp_path).select_targets(arches=["arm"])

    assert caught.value.message == (
        f"no target for --arch arm (targets: {MUSL_ARM}, {GLIBC_ARM}, {MUSL_X86})"
    )
    assert caught.value.hint == "add a target of that architecture to wheelhouse.yaml"


def test_select_by_an_unknown_arch(tmp_path: Path) -> None:
    with pytest.raises(TargetError) as caught:
        configured(tmp_path).select_targets(arches=["ppc64le"])

    assert caught.value.message == "unknown architecture 'ppc64le'"


def test_select_a_bad_target_id(tmp_path: Path) -> None:
    with pytest.raises(TargetError) as caught:
        configured(tmp_path).select_targets(["cp312-musllinux_1_2_arm64"])

    assert caught.value.hint == "target ids use the wheel tag name: aarch64"


def test_no_targets_anywhere() -> None:
    config = Config(path=None, requirements=None, output=Path("wheelhouse"))

    with pytest.raises(TargetError) as caught:
        config.select_targets()

    assert caught.value.message == (
        "no targets: wheelhouse.yaml lists none and no --target was given"
    )
    assert caught.value.hint == (
        "add a `targets:` list to wheelhouse.yaml or pass --target cp312-musllinux_1_2_aarch64"
    )


def test_target_config_falls_back_to_defaults(tmp_path: Path) -> None:
    config = configured(tmp_path)

    assert config.target_config(Target.parse(MUSL_ARM)).base_image == "my/alpine:arm"
    assert config.target_config(Target.parse("cp313-musllinux_1_2_aarch64")).base_image == (
        "python:3.13-alpine"
    )


def test_package_names_are_normalized(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "packages:\n  Foo_Bar.baz:\n    force_build: true\n"))

    assert canonicalize_name("foo-bar-baz") in config.packages
    assert config.force_build == {"foo-bar-baz"}


# --- build modes ---------------------------------------------------------------------------------


def test_build_modes_and_the_cross_image(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
targets:
  - id: cp311-manylinux_2_36_aarch64
    base_image: local/py:3.11-bookworm-arm64
    cross_image: local/py:3.11-bookworm-amd64
  - id: cp312-manylinux_2_36_aarch64
    build_mode: emulate
  - id: cp312-musllinux_1_2_aarch64
    build_mode: emulate
packages:
  gevent:
    build_mode: cross
""",
    )
    config = load_config(path)
    first, second, alpine = config.targets
    assert (first.build_mode, first.cross_image) == ("auto", "local/py:3.11-bookworm-amd64")
    assert first.cross_base_image == "local/py:3.11-bookworm-amd64"
    assert (second.build_mode, second.cross_image) == ("emulate", None)
    assert second.cross_base_image == "python:3.12-slim"
    assert alpine.build_mode == "emulate"
    assert config.packages[canonicalize_name("gevent")].build_mode == "cross"
    assert PackageConfig().build_mode is None
    assert TargetConfig.default(Target.parse(GLIBC_ARM)).build_mode == "auto"


@pytest.mark.parametrize(
    ("text", "message", "hint"),
    [
        (
            "targets:\n  - id: cp312-manylinux_2_36_aarch64\n    build_mode: fast\n",
            "targets[0].build_mode: 'fast' is not one of auto, cross, emulate",
            "use one of: auto, cross, emulate",
        ),
        (
            "packages:\n  cffi:\n    build_mode: qemu\n",
            "packages.cffi.build_mode: 'qemu' is not one of auto, cross, emulate",
            "use one of: auto, cross, emulate",
        ),
        (
            "targets:\n  - id: cp312-musllinux_1_2_aarch64\n    build_mode: cross\n",
            "targets[0].build_mode: cross needs a Debian (apt) manylinux target, or a "
            "musllinux target with package_manager none and a cross_image; "
            "cp312-musllinux_1_2_aarch64 is a musllinux target with package_manager apk",
            "use build_mode: auto (it builds targets that cannot be cross-compiled under QEMU) "
            "or emulate",
        ),
        (
            "targets:\n  - id: cp312-manylinux_2_36_aarch64\n    package_manager: none\n"
            "    build_mode: cross\n",
            "targets[0].build_mode: cross needs a Debian (apt) manylinux target, or a "
            "musllinux target with package_manager none and a cross_image; "
            "cp312-manylinux_2_36_aarch64 is a manylinux target with package_manager none",
            "use build_mode: auto (it builds targets that cannot be cross-compiled under QEMU) "
            "or emulate",
        ),
        (
            "targets:\n  - id: cp313-musllinux_1_2_aarch64\n    package_manager: none\n"
            "    build_mode: cross\n",
            "targets[0].build_mode: cross needs a Debian (apt) manylinux target, or a "
            "musllinux target with package_manager none and a cross_image; "
            "cp313-musllinux_1_2_aarch64 is a musllinux target with package_manager none",
            "use build_mode: auto (it builds targets that cannot be cross-compiled under QEMU) "
            "or emulate",
        ),
        (
            "targets:\n  - id: cp312-manylinux_2_36_aarch64\n    cross_image: ''\n",
            "targets[0].cross_image: expected a non-empty string, got ''",
            "e.g. cross_image: ...",
        ),
    ],
)
def test_build_mode_errors(tmp_path: Path, text: str, message: str, hint: str) -> None:
    error = config_error(tmp_path, text)
    assert error.message == f"{tmp_path / 'wheelhouse.yaml'}: {message}"
    assert error.hint == hint


def test_a_misspelt_build_mode_key_gets_a_did_you_mean(tmp_path: Path) -> None:
    error = config_error(tmp_path, "packages:\n  cffi:\n    buildmode: emulate\n")
    assert error.message.endswith("packages.cffi.buildmode: unknown key")
    assert error.hint == "did you mean `build_mode`?"


def test_python_full_version_sets_the_targets_interpreter(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "targets:\n  - id: cp311-manylinux_2_36_aarch64\n    python_full_version: 3.11.2\n",
    )
    target = load_config(path).targets[0].target
    assert (target.python_micro, target.marker_environment["python_full_version"]) == (2, "3.11.2")
    assert target == Target.parse("cp311-manylinux_2_36_aarch64")  # the same target


def test_python_full_version_of_another_python_is_a_field_error(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "targets:\n  - id: cp311-manylinux_2_36_aarch64\n    python_full_version: 3.12.1\n",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.message == (
        f"{path}: targets[0].python_full_version: python_full_version '3.12.1' is not a "
        "3.11.Z version of target cp311-manylinux_2_36_aarch64"
    )
    assert caught.value.hint == "write the interpreter's version, e.g. 3.11.2"


def test_a_package_can_leave_libraries_to_the_runtime_image(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            "packages:\n  pyalsaaudio:\n    runtime_apt: [libasound2]\n"
            "    system_libraries: [libasound.so.2]\n",
        )
    )
    assert config.packages[canonicalize_name("pyalsaaudio")] == PackageConfig(
        runtime_apt=("libasound2",), system_libraries=("libasound.so.2",)
    )


@pytest.mark.parametrize(
    ("entry", "where", "value"),
    [
        ("runtime_apt: ['libasound2 && curl x']", "runtime_apt[0]", "'libasound2 && curl x'"),
        ("runtime_apk: ['-alsa']", "runtime_apk[0]", "'-alsa'"),
        ("system_libraries: [asound]", "system_libraries[0]", "'asound'"),
    ],
)
def test_runtime_names_that_cannot_stand_in_a_run_line_are_rejected(
    tmp_path: Path, entry: str, where: str, value: str
) -> None:
    error = config_error(tmp_path, f"packages:\n  pyalsaaudio:\n    {entry}\n")
    assert f"packages.pyalsaaudio.{where}: not a valid name: {value}" in error.message
    assert error.hint is not None and error.hint.startswith("e.g. [")
