"""render_runtime_dockerfile and DOCKERIGNORE_LINES."""

from __future__ import annotations

import fnmatch

import pytest

from orchestrator.config import PackageManager, TargetConfig
from orchestrator.errors import BadInputError
from orchestrator.knowledge import RuntimeNeeds
from orchestrator.targets import Target
from orchestrator.wheelhouse.runtime import (
    DOCKERIGNORE_LINES,
    render_dockerignore,
    render_runtime_dockerfile,
)

ARM = Target.parse("cp311-manylinux_2_36_aarch64")
MUSL = Target.parse("cp312-musllinux_1_2_aarch64")


def tcfg(
    target: Target = ARM,
    image: str = "python:3.11-slim",
    manager: PackageManager = "apt",
    python: str = "python3",
) -> TargetConfig:
    return TargetConfig(
        target=target,
        base_image=image,
        runtime_image=image,
        package_manager=manager,
        python=python,
    )


def test_the_debian_runtime_stage() -> None:
    text = render_runtime_dockerfile(tcfg(), "wheelhouse/cp311-manylinux_2_36_aarch64")

    assert text == (
        "# Runtime stage for cp311-manylinux_2_36_aarch64, from "
        "`wheelhouse dockerfile --target cp311-manylinux_2_36_aarch64`.\n"
        "# It installs only the prebuilt wheels of wheelhouse/cp311-manylinux_2_36_aarch64/:\n"
        "# no compiler, no index, every file checked against its sha256, and no wheel left\n"
        "# in the image (they are mounted for the install, not copied). Build it with:\n"
        "#   docker buildx build --platform linux/arm64 -t IMAGE .\n"
        "# and keep the .dockerignore that `wheelhouse dockerfile` prints next to it.\n"
        "FROM python:3.11-slim AS runtime\n"
        "\n"
        "# A venv, not the image's system Python: Debian's Python refuses `pip install` into\n"
        "# /usr (PEP 668), and the venv keeps the app's packages apart from the OS's.\n"
        "ENV VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 "
        "PYTHONUNBUFFERED=1\n"
        "RUN --mount=type=bind,source=wheelhouse/cp311-manylinux_2_36_aarch64,target=/wheels \\\n"
        "    python3 -m venv /opt/venv \\\n"
        " && /opt/venv/bin/pip install --no-cache-dir --no-index --only-binary :all: \\\n"
        "      --find-links=/wheels --require-hashes -r /wheels/requirements.txt\n"
        "\n"
        "# Run as an unprivileged user; a numeric USER lets Kubernetes check runAsNonRoot.\n"
        "RUN groupadd --system --gid 10001 app \\\n"
        " && useradd --system --uid 10001 --gid 10001 --create-home --home-dir /home/app app\n"
        "USER 10001:10001\n"
        "WORKDIR /app\n"
        "# COPY --chown=10001:10001 <your app's files> /app/\n"
        'CMD ["python"]\n'
    )


def test_alpine_creates_the_user_with_busybox() -> None:
    text = render_runtime_dockerfile(
        tcfg(MUSL, "python:3.12-alpine", "apk"), "wheelhouse/cp312-musllinux_1_2_aarch64"
    )

    assert "RUN addgroup -S -g 10001 app \\\n && adduser -S -D -u 10001 -G app" in text
    assert "FROM python:3.12-alpine AS runtime\n" in text
    assert "--platform linux/arm64" in text


def test_an_image_without_package_manager_still_runs_unprivileged() -> None:
    text = render_runtime_dockerfile(tcfg(manager="none"), "wh")

    assert "useradd" not in text
    assert "adduser" not in text
    assert "USER 10001:10001\n" in text


def test_the_install_needs_no_compiler_no_index_and_checks_hashes() -> None:
    text = render_runtime_dockerfile(tcfg(python="/usr/local/bin/python3.11"), "wh")

    install = text[text.index("    /usr/local/bin/python3.11 -m venv") :].split("\n\n")[0]
    for flag in ("--no-index", "--require-hashes", "--no-cache-dir", "--only-binary :all:"):
        assert flag in install
    for tool in ("gcc", "build-essential", "apt-get", "apk add", "-dev"):
        assert tool not in text


def test_the_app_hint_becomes_the_command() -> None:
    text = render_runtime_dockerfile(tcfg(), "wh", app_hint="gunicorn -b 0.0.0.0:8000 app:wsgi")

    assert text.endswith('CMD ["gunicorn", "-b", "0.0.0.0:8000", "app:wsgi"]\n')


@pytest.mark.parametrize(
    ("given", "mounted"),
    [
        (
            "wheelhouse/cp311-manylinux_2_36_aarch64/",
            "source=wheelhouse/cp311-manylinux_2_36_aarch64",
        ),
        ("wheelhouse\\cp311", "source=wheelhouse/cp311"),
        ("./out/my wheels", '"source=out/my wheels"'),
        ("out/a,b", '"source=out/a,b"'),
    ],
)
def test_the_wheelhouse_path_is_normalized(given: str, mounted: str) -> None:
    text = render_runtime_dockerfile(tcfg(), given)

    assert f"RUN --mount=type=bind,{mounted},target=/wheels \\\n" in text


def test_no_wheel_is_copied_into_the_image() -> None:
    for text in (
        render_runtime_dockerfile(tcfg(), "wh"),
        render_runtime_dockerfile(tcfg(), "wh", from_image="reg.example/app/wheels:nightly"),
    ):
        assert "\nCOPY" not in text
        assert "\nADD" not in text


def test_the_image_form_mounts_the_published_wheelhouse() -> None:
    text = render_runtime_dockerfile(
        tcfg(), "ignored", from_image="127.0.0.1:5000/app/wheels:cp311-manylinux"
    )

    assert (
        "RUN --mount=type=bind,from=127.0.0.1:5000/app/wheels:cp311-manylinux,"
        "source=/wheels,target=/wheels \\\n    python3 -m venv /opt/venv \\\n"
    ) in text
    assert "# It installs only the prebuilt wheels of the image 127.0.0.1:5000/app/wheels" in text
    assert "#   docker buildx build --platform PLATFORMS -t IMAGE .\n" in text


@pytest.mark.parametrize("bad", ["", "reg/app:a,b", "reg/app:x y", 'reg/"x"'])
def test_an_image_reference_that_breaks_the_mount_is_refused(bad: str) -> None:
    with pytest.raises(BadInputError) as caught:
        render_runtime_dockerfile(tcfg(), "wh", from_image=bad)

    assert caught.value.hint is not None
    assert "registry.example.com" in caught.value.hint


@pytest.mark.parametrize("bad", ["/abs/wheelhouse", "../elsewhere/wh", "C:\\wh", "", "."])
def test_a_wheelhouse_outside_the_context_is_refused(bad: str) -> None:
    with pytest.raises(BadInputError) as caught:
        render_runtime_dockerfile(tcfg(), bad)

    assert caught.value.hint is not None
    assert "relative" in caught.value.hint or "e.g." in caught.value.hint


def test_dockerignore_keeps_host_environments_and_litter_out() -> None:
    patterns = [line for line in DOCKERIGNORE_LINES if line and not line.startswith("#")]

    for required in (".venv", "venv/", "**/__pycache__/", "**/*.pyc", ".git", "build/"):
        assert required in patterns
    assert "**/*.egg-info" in patterns
    comments = " ".join(line for line in DOCKERIGNORE_LINES if line.startswith("#"))
    assert "A host .venv copied into an image breaks it" in comments


def test_dockerignore_never_hides_the_wheelhouse() -> None:
    patterns = [line for line in DOCKERIGNORE_LINES if line and not line.startswith("#")]
    published = [
        "wheelhouse/cp311-manylinux_2_36_aarch64",
        "wheelhouse/.cp311-manylinux_2_36_aarch64-20250101T000000Z-0badf00d/six.whl",
    ]

    for path in published:
        assert not any(fnmatch.fnmatch(path, p.rstrip("/")) for p in patterns), path


def test_render_dockerignore_is_the_lines() -> None:
    assert render_dockerignore() == "\n".join(DOCKERIGNORE_LINES) + "\n"


# --- the system packages the wheels need at run time ----------------------------------------

ALSA = RuntimeNeeds(libraries=("libasound.so.2",), packages=("libasound2",))


def test_apt_installs_the_runtime_packages_before_the_wheels() -> None:
    text = render_runtime_dockerfile(tcfg(), "wh", needs=ALSA)
    lines = text.splitlines()
    start = lines.index("FROM python:3.11-slim AS runtime") + 2
    assert lines[start : start + 6] == [
        "# System libraries the wheels link but do not carry: libasound.so.2 "
        "(manifest.json runtime_packages).",
        "RUN apt-get update \\",
        " && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \\",
        "      libasound2 \\",
        " && rm -rf /var/lib/apt/lists/*",
        "",
    ]
    # Before the wheels: their layer changes every night, the packages' seldom.
    assert text.index("apt-get install") < text.index("pip install")


def test_apk_adds_them_without_a_cache() -> None:
    needs = RuntimeNeeds(libraries=("libasound.so.2",), packages=("alsa-lib",))
    text = render_runtime_dockerfile(tcfg(MUSL, "python:3.12-alpine", "apk"), "wh", needs=needs)
    assert "RUN apk add --no-cache alsa-lib\n" in text
    assert "apt-get" not in text


def test_several_packages_go_in_one_run_line_in_the_order_given() -> None:
    needs = RuntimeNeeds(
        libraries=("libasound.so.2", "libz.so.1"), packages=("libasound2", "zlib1g")
    )
    text = render_runtime_dockerfile(tcfg(), "wh", needs=needs)
    assert text.count("RUN apt-get update") == 1
    assert "      libasound2 zlib1g \\\n" in text


def test_the_from_image_stage_installs_them_too() -> None:
    text = render_runtime_dockerfile(
        tcfg(), "wh", from_image="reg.example/app/wheels:nightly", needs=ALSA
    )
    assert "apt-get install -y --no-install-recommends \\\n      libasound2 \\\n" in text
    assert text.index("apt-get install") < text.index("--mount=type=bind,from=")


def test_without_a_package_manager_the_image_must_bring_the_libraries() -> None:
    needs = RuntimeNeeds(libraries=("libasound.so.2",))
    text = render_runtime_dockerfile(tcfg(manager="none"), "wh", needs=needs)
    assert "# System libraries the wheels link but do not carry: libasound.so.2" in text
    assert "# No package manager for this target: the image must already provide them." in text
    assert "apt-get" not in text and "apk add" not in text


def test_a_wheelhouse_that_needs_nothing_renders_as_before() -> None:
    before = render_runtime_dockerfile(tcfg(), "wh")
    assert render_runtime_dockerfile(tcfg(), "wh", needs=RuntimeNeeds()) == before
    assert "apt-get" not in before
