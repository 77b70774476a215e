"""The runtime stage users put in their Dockerfile: install the wheelhouse, nothing else.

``wheelhouse dockerfile --target ID`` prints ``render_runtime_dockerfile`` and, for the
``.dockerignore`` next to it, ``DOCKERIGNORE_LINES``.
"""

from __future__ import annotations

import json
import shlex
from pathlib import PurePosixPath, PureWindowsPath

from orchestrator.config import TargetConfig
from orchestrator.errors import BadInputError

#: Where the image keeps the app's packages, and the unprivileged user that runs it.
VENV = "/opt/venv"
APP_UID = 10001

DOCKERIGNORE_LINES: tuple[str, ...] = (
    "# Keep the host's environments and build litter out of the Docker build context.",
    "# A host .venv copied into an image breaks it: its bin/python is a symlink to the host's",
    "# interpreter, its scripts' shebangs name host paths, and its compiled extensions were",
    "# built for the host's CPU and libc, not the target's.",
    ".venv",
    "venv/",
    "**/__pycache__/",
    "**/*.pyc",
    ".git",
    "build/",
    "**/*.egg-info",
    ".wheelhouse-cache/",
    "# Do not ignore `.*` as a whole: the wheelhouse's versioned directories start with a dot.",
)


def render_dockerignore() -> str:
    return "\n".join(DOCKERIGNORE_LINES) + "\n"


def render_runtime_dockerfile(
    tcfg: TargetConfig, wheelhouse_rel: str, *, app_hint: str | None = None
) -> str:
    """A runtime stage ``FROM tcfg.runtime_image`` that installs only the wheelhouse's wheels.

    ``wheelhouse_rel`` is the wheelhouse's path relative to the build context (e.g.
    ``wheelhouse/cp312-musllinux_1_2_aarch64``); ``app_hint`` is how the app starts (e.g.
    ``python -m myapp``), rendered as the ``CMD``.
    """
    source = _context_path(wheelhouse_rel)
    target = tcfg.target
    lines = [
        f"# Runtime stage for {target.id}, from `wheelhouse dockerfile --target {target.id}`.",
        f"# It installs only the prebuilt wheels of {source}/: no compiler, no index, every",
        "# file checked against its sha256. Build it for the target's platform:",
        f"#   docker buildx build --platform {target.arch.docker_platform} -t IMAGE .",
        "# and keep the .dockerignore that `wheelhouse dockerfile` prints next to it.",
        f"FROM {tcfg.runtime_image} AS runtime",
        "",
        "# A venv, not the image's system Python: Debian's Python refuses `pip install` into",
        "# /usr (PEP 668), and the venv keeps the app's packages apart from the OS's.",
        f"ENV VIRTUAL_ENV={VENV} PATH={VENV}/bin:$PATH "
        "PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1",
        f"COPY {json.dumps([f'{source}/', '/wheels/'])}",
        f"RUN {shlex.quote(tcfg.python)} -m venv {VENV} \\",
        f" && {VENV}/bin/pip install --no-cache-dir --no-index --only-binary :all: \\",
        "      --find-links=/wheels --require-hashes -r /wheels/requirements.txt",
        "",
        "# Run as an unprivileged user; a numeric USER lets Kubernetes check runAsNonRoot.",
        *_user_lines(tcfg),
        f"USER {APP_UID}:{APP_UID}",
        "WORKDIR /app",
        f"# COPY --chown={APP_UID}:{APP_UID} <your app's files> /app/",
        f"CMD {json.dumps(shlex.split(app_hint) if app_hint else ['python'])}",
    ]
    return "\n".join(lines) + "\n"


def _user_lines(tcfg: TargetConfig) -> list[str]:
    if tcfg.package_manager == "apk":
        return [
            f"RUN addgroup -S -g {APP_UID} app \\",
            f" && adduser -S -D -u {APP_UID} -G app -h /home/app app",
        ]
    if tcfg.package_manager == "apt":
        return [
            f"RUN groupadd --system --gid {APP_UID} app \\",
            f" && useradd --system --uid {APP_UID} --gid {APP_UID} --create-home "
            "--home-dir /home/app app",
        ]
    return ["# No package manager: the user exists only as a number (no passwd entry)."]


def _context_path(wheelhouse_rel: str) -> str:
    """``wheelhouse_rel`` as a POSIX path inside the build context, without trailing slash."""
    path = PurePosixPath(PureWindowsPath(wheelhouse_rel).as_posix())
    if path.is_absolute() or PureWindowsPath(wheelhouse_rel).drive or ".." in path.parts:
        raise BadInputError(
            f"wheelhouse path {wheelhouse_rel!r} is not inside the Docker build context",
            hint="pass the wheelhouse's path relative to the build context, "
            "e.g. wheelhouse/cp312-musllinux_1_2_aarch64",
        )
    if str(path) == ".":
        raise BadInputError(
            "the wheelhouse path is empty",
            hint="pass e.g. wheelhouse/cp312-musllinux_1_2_aarch64",
        )
    return str(path)
