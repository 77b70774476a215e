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
from orchestrator.knowledge import RuntimeNeeds
from orchestrator.wheelhouse.syspackages import install_lines

#: Where the image keeps the app's packages, and the unprivileged user that runs it.
VENV = "/opt/venv"
#: Where the wheelhouse is mounted for the install, and where a published image holds it.
WHEELS = "/wheels"
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
    tcfg: TargetConfig,
    wheelhouse_rel: str,
    *,
    app_hint: str | None = None,
    from_image: str | None = None,
    needs: RuntimeNeeds | None = None,
) -> str:
    """A runtime stage ``FROM tcfg.runtime_image`` that installs only the wheelhouse's wheels.

    ``wheelhouse_rel`` is the wheelhouse's path relative to the build context (e.g.
    ``wheelhouse/cp312-musllinux_1_2_aarch64``); ``from_image``, when given, is a
    wheelhouse image from ``wheelhouse publish`` to take the wheels from instead. Either
    way the wheels are bind-mounted for the one ``pip install``, never copied: no wheel
    stays in a layer of the final image. ``app_hint`` is how the app starts (e.g.
    ``python -m myapp``), rendered as the ``CMD``. ``needs`` are the system packages the
    wheels need (the manifest's ``runtime_packages``), installed before the wheels with the
    target's package manager, in the same lines verify installs them with.
    """
    target = tcfg.target
    if from_image is None:
        source = _context_path(wheelhouse_rel)
        origin = f"the prebuilt wheels of {source}/"
        mount = f"--mount=type=bind,{_csv_field(f'source={source}')},target={WHEELS}"
        platforms = target.arch.docker_platform
    else:
        origin = f"the prebuilt wheels of the image {from_image}"
        mount = f"--mount=type=bind,from={_image_ref(from_image)},source={WHEELS},target={WHEELS}"
        platforms = "PLATFORMS"
    lines = [
        f"# Runtime stage for {target.id}, from `wheelhouse dockerfile --target {target.id}`.",
        f"# It installs only {origin}:",
        "# no compiler, no index, every file checked against its sha256, and no wheel left",
        "# in the image (they are mounted for the install, not copied). Build it with:",
        f"#   docker buildx build --platform {platforms} -t IMAGE .",
        *(
            ["#   (PLATFORMS: the image's platforms, e.g. linux/arm64,linux/amd64)"]
            if from_image
            else []
        ),
        "# and keep the .dockerignore that `wheelhouse dockerfile` prints next to it.",
        f"FROM {tcfg.runtime_image} AS runtime",
        "",
        *_then_blank(install_lines(tcfg.package_manager, needs or RuntimeNeeds())),
        "# A venv, not the image's system Python: Debian's Python refuses `pip install` into",
        "# /usr (PEP 668), and the venv keeps the app's packages apart from the OS's.",
        f"ENV VIRTUAL_ENV={VENV} PATH={VENV}/bin:$PATH "
        "PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1",
        f"RUN {mount} \\",
        f"    {shlex.quote(tcfg.python)} -m venv {VENV} \\",
        f" && {VENV}/bin/pip install --no-cache-dir --no-index --only-binary :all: \\",
        f"      --find-links={WHEELS} --require-hashes -r {WHEELS}/requirements.txt",
        "",
        "# Run as an unprivileged user; a numeric USER lets Kubernetes check runAsNonRoot.",
        *_user_lines(tcfg),
        f"USER {APP_UID}:{APP_UID}",
        "WORKDIR /app",
        f"# COPY --chown={APP_UID}:{APP_UID} <your app's files> /app/",
        f"CMD {json.dumps(shlex.split(app_hint) if app_hint else ['python'])}",
    ]
    return "\n".join(lines) + "\n"


def _then_blank(lines: list[str]) -> list[str]:
    return [*lines, ""] if lines else []


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


def _csv_field(field: str) -> str:
    """One field of a ``--mount`` option, which BuildKit reads as CSV: quoted if need be."""
    if any(c in field for c in ', "'):
        return '"' + field.replace('"', '""') + '"'
    return field


def _image_ref(ref: str) -> str:
    """``ref`` when it can stand in a ``--mount`` option (no comma, space or quote)."""
    if not ref or any(c in ref for c in ", \"'\t\n="):
        raise BadInputError(
            f"image reference {ref!r} cannot be used in RUN --mount=from=...",
            hint="pass a plain reference such as registry.example.com/app/wheels:nightly",
        )
    return ref


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
