"""The system packages a wheelhouse's wheels need at run time, and the one RUN line that
installs them.

A built wheel can leave a library to the system: the knowledge file's ``system_libraries``
(libasound, which loads its configuration and plugins from the system's own directories),
kept out of the wheel by ``auditwheel repair --exclude``. Its ``manifest.json`` entry then
names those libraries and the target's packages that ship them, and the manifest's
top-level ``runtime_packages`` is their union (``collect``). The runtime Dockerfile
(``runtime``) installs them with ``install_lines``, and verify installs them with the same
lines into an image of its own (``verify_base_image``) before its no-network install, so
verify proves what the runtime image will do.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Protocol

from orchestrator.build.engine import BuildxRequest, BuildxResult
from orchestrator.config import PACKAGE_NAME, SONAME, PackageManager, TargetConfig
from orchestrator.errors import BadInputError
from orchestrator.knowledge import RuntimeNeeds

#: Seconds for verify's package install (apt-get under QEMU is slow, but not this slow).
INSTALL_TIMEOUT = 1800.0


class ImageBuilder(Protocol):
    """What verify needs of the engine to install the runtime packages (``DockerEngine``)."""

    def buildx_build(
        self, request: BuildxRequest, on_line: Callable[[str], None]
    ) -> BuildxResult: ...


class RuntimeInstallError(Exception):
    """The runtime packages could not be installed in the runtime image."""

    def __init__(self, message: str, tail: str) -> None:
        super().__init__(message)
        self.message = message
        self.tail = tail


def read_runtime_needs(wheelhouse_dir: Path) -> RuntimeNeeds:
    """The manifest's top-level ``system_libraries`` and ``runtime_packages``.

    A manifest written before these keys existed (or format 1) needs nothing. A manifest
    that is not there, or names a package that is not a package name, is bad input."""
    path = wheelhouse_dir / "manifest.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInputError(
            f"no wheelhouse at {wheelhouse_dir} (manifest.json is missing): the system "
            "packages its wheels need at run time are read from it",
            hint="build it first (`wheelhouse build --target ID`)",
        ) from None
    except (OSError, ValueError) as exc:
        raise BadInputError(
            f"{path} cannot be read: {exc}", hint="build the wheelhouse again"
        ) from None
    if not isinstance(data, dict):
        raise BadInputError(f"{path} is not a wheelhouse manifest", hint="build it again")
    return RuntimeNeeds(
        libraries=_names(data.get("system_libraries", []), path, "system_libraries", SONAME),
        packages=_names(data.get("runtime_packages", []), path, "runtime_packages", PACKAGE_NAME),
    )


def _names(value: object, path: Path, key: str, pattern: re.Pattern[str]) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(
        isinstance(v, str) and pattern.fullmatch(v) for v in value
    ):
        raise BadInputError(
            f"{path}: `{key}` is not a list of package and library names: {value!r}",
            hint="build the wheelhouse again rather than edit its manifest",
        )
    return tuple(sorted(set(value)))


def merge_needs(needs: Iterable[RuntimeNeeds]) -> RuntimeNeeds:
    """The union of several wheelhouses' needs, sorted, without duplicates."""
    listed = list(needs)
    return RuntimeNeeds(
        libraries=tuple(sorted({lib for n in listed for lib in n.libraries})),
        packages=tuple(sorted({pkg for n in listed for pkg in n.packages})),
    )


def runtime_needs_for(
    output: Path, tcfg: TargetConfig, group: Sequence[TargetConfig] = ()
) -> RuntimeNeeds:
    """What the runtime stage of ``tcfg`` installs: its built wheelhouse's needs (it must be
    built), with those of every target of ``group`` with the same Python, libc and package
    manager whose wheelhouse is built here: a ``--from-image`` file serves every platform
    of the one tag, so it installs what any of them needs."""
    own = read_runtime_needs(output / tcfg.target.id)
    key = (tcfg.target.interpreter, tcfg.target.libc, tcfg.package_manager)
    others = [
        read_runtime_needs(output / tc.target.id)
        for tc in group
        if (tc.target.interpreter, tc.target.libc, tc.package_manager) == key
        and tc.target != tcfg.target
        and (output / tc.target.id / "manifest.json").is_file()
    ]
    return merge_needs([own, *others]) if others else own


def install_lines(manager: PackageManager, needs: RuntimeNeeds) -> list[str]:
    """The Dockerfile lines that install ``needs.packages`` (none when there are none)."""
    if not needs.libraries and not needs.packages:
        return []
    names = " ".join(needs.packages)
    said = (
        f"# System libraries the wheels link but do not carry: {', '.join(needs.libraries)}"
        " (manifest.json runtime_packages)."
    )
    if manager == "apt" and needs.packages:
        return [
            said,
            "RUN apt-get update \\",
            " && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \\",
            f"      {names} \\",
            " && rm -rf /var/lib/apt/lists/*",
        ]
    if manager == "apk" and needs.packages:
        return [said, f"RUN apk add --no-cache {names}"]
    return [
        said,
        "# No package manager for this target: the image must already provide them.",
    ]


def verify_base_dockerfile(image: str, tcfg: TargetConfig, needs: RuntimeNeeds) -> str:
    """``image`` with the runtime packages installed by the runtime Dockerfile's lines."""
    return "\n".join([f"FROM {image}", *install_lines(tcfg.package_manager, needs)]) + "\n"


def installs_packages(tcfg: TargetConfig, needs: RuntimeNeeds) -> bool:
    return bool(needs.packages) and tcfg.package_manager in ("apt", "apk")


def verify_base_image(
    engine: ImageBuilder,
    tcfg: TargetConfig,
    image: str,
    needs: RuntimeNeeds,
    say: Callable[[str], None],
) -> str:
    """Build ``image`` plus the runtime packages for the target's platform into the engine
    (BuildKit caches it by its inputs); the loaded image's name. Raises
    ``RuntimeInstallError`` when the install fails (a package the mirror does not have)."""
    dockerfile = verify_base_dockerfile(image, tcfg, needs)
    platform = tcfg.target.arch.docker_platform
    digest = hashlib.sha256(f"{platform}\n{dockerfile}".encode()).hexdigest()[:16]
    name = f"wheelhouse-verify/{tcfg.target.id}:{digest}"
    say(f"{tcfg.target.id}: installing {' '.join(needs.packages)} in {image} ({platform})")
    with tempfile.TemporaryDirectory(prefix="wheelhouse-verify-base-") as work:
        context = Path(work)
        (context / "Dockerfile").write_text(dockerfile, encoding="utf-8")
        result = engine.buildx_build(
            BuildxRequest(
                context=context,
                dockerfile=context / "Dockerfile",
                platform=platform,
                output_dir=context,
                image_name=name,
                timeout=INSTALL_TIMEOUT,
            ),
            say,
        )
    if not result.ok:
        why = "timed out" if result.timed_out else f"exit code {result.returncode}"
        raise RuntimeInstallError(
            f"could not install the runtime packages {' '.join(needs.packages)} in "
            f"{tcfg.runtime_image} ({why})",
            "\n".join(result.tail[-40:]),
        )
    return name
