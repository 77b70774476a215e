"""_with_runtime_needs: which wheels of a build leave a library to the runtime image."""

from __future__ import annotations

from pathlib import Path

from packaging.utils import canonicalize_name

from orchestrator.config import PackageManager, TargetConfig
from orchestrator.knowledge import load_knowledge
from orchestrator.model import Artifact, Origin, TargetBuild
from orchestrator.pipeline import _with_runtime_needs
from orchestrator.targets import Target

TARGET = Target.parse("cp311-manylinux_2_36_x86_64")


def tcfg(manager: PackageManager) -> TargetConfig:
    return TargetConfig(target=TARGET, base_image="i", runtime_image="i", package_manager=manager)


def artifact(name: str, origin: Origin, tag: str = "cp311-cp311-manylinux_2_36_x86_64") -> Artifact:
    return Artifact(
        name=canonicalize_name(name),
        version="1.0",
        path=Path(f"/cache/{name}-1.0-{tag}.whl"),
        sha256="0" * 64,
        origin=origin,
    )


def needs(build: TargetBuild) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    return {str(a.name): (a.system_libraries, a.runtime_packages) for a in build.artifacts}


def test_a_built_wheel_whose_entry_leaves_a_library_to_the_system_records_it() -> None:
    build = TargetBuild(
        target=TARGET,
        artifacts=(
            artifact("pyalsaaudio", "built"),
            artifact("psycopg2", "built"),  # libpq is grafted into the wheel
            artifact("six", "pypi", "py3-none-any"),
        ),
    )
    found = needs(_with_runtime_needs(tcfg("apt"), load_knowledge(), build))
    assert found == {
        "pyalsaaudio": (("libasound.so.2",), ("libasound2",)),
        "psycopg2": ((), ()),
        "six": ((), ()),
    }
    apk = needs(_with_runtime_needs(tcfg("apk"), load_knowledge(), build))
    assert apk["pyalsaaudio"] == (("libasound.so.2",), ("alsa-lib",))


def test_a_downloaded_or_pure_wheel_needs_nothing_of_the_system() -> None:
    build = TargetBuild(
        target=TARGET,
        artifacts=(
            artifact("pyalsaaudio", "pypi"),  # whoever built it chose what it carries
        ),
    )
    assert needs(_with_runtime_needs(tcfg("apt"), load_knowledge(), build)) == {
        "pyalsaaudio": ((), ())
    }
    pure = TargetBuild(target=TARGET, artifacts=(artifact("pyalsaaudio", "built", "py3-none-any"),))
    assert needs(_with_runtime_needs(tcfg("apt"), load_knowledge(), pure)) == {
        "pyalsaaudio": ((), ())
    }


def test_runtime_package_names_are_the_targets_python_version() -> None:
    """uwsgi's binary keeps libpython: Debian's python3.11 gets libpython3.11."""
    build = TargetBuild(target=TARGET, artifacts=(artifact("uwsgi", "built"),))
    assert needs(_with_runtime_needs(tcfg("apt"), load_knowledge(), build)) == {
        "uwsgi": (("libpython3.*.so.1.0",), ("libpython3.11",))
    }
    other = Target.parse("cp313-manylinux_2_41_x86_64")
    later = TargetBuild(target=other, artifacts=(artifact("uwsgi", "built"),))
    config = TargetConfig(target=other, base_image="i", runtime_image="i", package_manager="apt")
    assert needs(_with_runtime_needs(config, load_knowledge(), later))["uwsgi"][1] == (
        "libpython3.13",
    )
