"""``wheelhouse doctor``: can this machine build for the configured targets?

Each check is a small function returning a ``Check``; the engine, the host's
architecture and the binfmt_misc directory are passed in. The build platform (what runs
without QEMU, and where cross stages run) is the buildx builder's native one; the host's
architecture stands in only when the builder cannot say.
"""

from __future__ import annotations

import platform as host_platform_module
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from orchestrator.build.engine import (
    HINT_BUILDX,
    HINT_START_ENGINE,
    ImageState,
    PlatformImage,
    hint_qemu,
)
from orchestrator.config import TargetConfig
from orchestrator.errors import EngineError, TargetError, WheelhouseError
from orchestrator.plan.modes import cross_problem
from orchestrator.targets import Arch

MIN_BUILDX = (0, 11)
BINFMT_DIR = Path("/proc/sys/fs/binfmt_misc")
#: binfmt_misc entry names of qemu-user-static, per architecture.
_QEMU_NAMES = {Arch.AARCH64: "qemu-aarch64", Arch.X86_64: "qemu-x86_64", Arch.ARMV7L: "qemu-arm"}


@dataclass(frozen=True, kw_only=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str | None = None


class DoctorEngine(Protocol):
    def ping(self) -> None: ...

    def buildx_version(self) -> str: ...

    def buildx_platforms(self) -> tuple[str, ...]: ...

    def build_arch(self) -> Arch: ...

    def image_state(self, image: str) -> ImageState: ...

    def platform_image(self, image: str, platform: str) -> PlatformImage: ...

    def run_true(self, image: str, platform: str) -> str | None: ...


class RegistryProbe(Protocol):
    def registry_status(self, ref: str) -> str: ...


def check_registry(engine: RegistryProbe, ref: str) -> Check:
    """``doctor --image REF``: does the registry ``wheelhouse publish`` pushes to answer?"""
    name = f"registry for {ref}"
    try:
        detail = engine.registry_status(ref)
    except WheelhouseError as exc:
        return Check(name=name, ok=False, detail=exc.message, fix=exc.hint)
    return Check(name=name, ok=True, detail=f"{detail} (push rights show on the first push)")


def check_engine(engine: DoctorEngine) -> Check:
    try:
        engine.ping()
    except EngineError as exc:
        return Check(name="engine", ok=False, detail=exc.message, fix=HINT_START_ENGINE)
    return Check(name="engine", ok=True, detail="the Docker engine answers")


def check_buildx(engine: DoctorEngine, minimum: tuple[int, int] = MIN_BUILDX) -> Check:
    try:
        version = engine.buildx_version()
    except EngineError as exc:
        return Check(name="buildx", ok=False, detail=exc.message, fix=HINT_BUILDX)
    numbers = tuple(int(n) for n in version.split(".")[:2])
    wanted = ".".join(map(str, minimum))
    if numbers < minimum:
        return Check(
            name="buildx", ok=False, detail=f"buildx {version} < {wanted}", fix=HINT_BUILDX
        )
    return Check(name="buildx", ok=True, detail=f"buildx {version} (>= {wanted})")


def binfmt_registered(arch: Arch, binfmt_dir: Path = BINFMT_DIR) -> bool:
    """QEMU is registered for ``arch`` with the F flag (usable inside containers)."""
    try:
        text = (binfmt_dir / _QEMU_NAMES[arch]).read_text()
    except OSError:
        return False
    flags = next((ln.split(":", 1)[1] for ln in text.splitlines() if ln.startswith("flags:")), "")
    return text.startswith("enabled") and "F" in flags


def check_build_platform(engine: DoctorEngine) -> tuple[Check, Arch | None]:
    """The builder's native platform: it needs no QEMU, and cross stages run on it."""
    name = "build platform"
    try:
        arch = engine.build_arch()
    except EngineError as exc:
        return Check(name=name, ok=False, detail=exc.message, fix=exc.hint), None
    detail = f"{arch.docker_platform} (the buildx builder's native platform)"
    return Check(name=name, ok=True, detail=detail), arch


def host_arch(machine: str | None = None) -> Arch | None:
    try:
        return Arch.parse(machine or host_platform_module.machine())
    except TargetError:
        return None


def check_platform(
    engine: DoctorEngine,
    arch: Arch,
    native: Arch | None,
    binfmt_dir: Path = BINFMT_DIR,
    probe_image: str | None = None,
) -> Check:
    """Native, or emulated: listed by the builder, registered with binfmt, and (when an image
    is at hand) actually running a program."""
    name, platform = f"platform {arch.docker_platform}", arch.docker_platform
    if arch is native:
        return Check(name=name, ok=True, detail="native")
    try:
        listed = platform in engine.buildx_platforms()
    except EngineError as exc:
        return Check(name=name, ok=False, detail=exc.message, fix=exc.hint)
    registered = binfmt_registered(arch, binfmt_dir)
    if not registered:
        detail = f"no QEMU binfmt entry {binfmt_dir / _QEMU_NAMES[arch]} with the F flag"
        return Check(name=name, ok=False, detail=detail, fix=hint_qemu(platform))
    if not listed:
        detail = "QEMU is registered but the builder does not list the platform"
        return Check(
            name=name, ok=False, detail=detail, fix="restart dockerd (it probes emulators at start)"
        )
    return _probe(engine, name, platform, probe_image)


def _probe(engine: DoctorEngine, name: str, platform: str, image: str | None) -> Check:
    if image is None:
        return Check(name=name, ok=True, detail="emulated (QEMU), listed by the builder")
    error = engine.run_true(image, platform)
    if error is not None:
        detail = f"`true` does not run in {image}: {error}"
        return Check(name=name, ok=False, detail=detail, fix=hint_qemu(platform))
    return Check(name=name, ok=True, detail=f"emulated (QEMU); ran `true` in {image}")


def check_base_image(engine: DoctorEngine, tcfg: TargetConfig) -> Check:
    name = f"base image {tcfg.base_image} ({tcfg.target.id})"
    try:
        state = engine.image_state(tcfg.base_image)
    except EngineError as exc:
        return Check(name=name, ok=False, detail=exc.message, fix=exc.hint)
    if state == "missing":
        return Check(
            name=name,
            ok=False,
            detail="not present locally and the registry does not know it",
            fix="build or load it (`docker images` lists what is there), check the name "
            "and `docker login`, or set another base_image for this target",
        )
    return Check(name=name, ok=True, detail=state)


def check_cross_image(engine: DoctorEngine, tcfg: TargetConfig, build_arch: Arch) -> Check:
    """The image cross stages start from, for the build platform (not the target's)."""
    image, platform = tcfg.cross_base_image, build_arch.docker_platform
    name = f"cross image {image} ({tcfg.target.id})"
    try:
        found = engine.platform_image(image, platform)
    except EngineError as exc:
        return Check(name=name, ok=False, detail=exc.message, fix=exc.hint)
    if found.state == "present":
        return Check(name=name, ok=True, detail=f"present for {platform}")
    if found.state == "pullable":
        detail = f"not present for {platform}; the registry has it, the first cross build pulls it"
        return Check(name=name, ok=True, detail=detail)
    return Check(
        name=name, ok=False, detail=_no_cross_image(found, platform), fix=_cross_fix(tcfg, platform)
    )


def _no_cross_image(found: PlatformImage, platform: str) -> str:
    where = f"the local tag holds {found.local_platform}" if found.local_platform else "not present"
    return f"{where}, and no registry has it for {platform} (the build platform)"


def _cross_fix(tcfg: TargetConfig, platform: str) -> str:
    return (
        f"set targets[].cross_image to an image for {platform} with the same Python and C "
        f"library (Debian suite, musl) as {tcfg.base_image} (build or load it; from a "
        f"registry: `docker pull --platform {platform} IMAGE` then `docker tag`), or "
        "build_mode: emulate (QEMU only)"
    )


def run_doctor(
    engine: DoctorEngine,
    targets: Sequence[TargetConfig],
    *,
    machine: str | None = None,
    binfmt_dir: Path = BINFMT_DIR,
) -> list[Check]:
    """Every check, in order; when the engine does not answer the rest are not attempted."""
    first = check_engine(engine)
    if not first.ok:
        return [first]
    checks = [first, check_buildx(engine)]
    native = host_arch(machine)
    if checks[-1].ok:
        build, arch = check_build_platform(engine)
        checks.append(build)
        native = arch or native
    images = {tc.base_image: check_base_image(engine, tc) for tc in targets}
    for arch in dict.fromkeys(tc.target.arch for tc in targets):
        probe = _present_image(arch, targets, images)
        checks.append(check_platform(engine, arch, native, binfmt_dir, probe))
    return [*checks, *images.values(), *_cross_images(engine, targets, native)]


def _cross_images(
    engine: DoctorEngine, targets: Sequence[TargetConfig], build_arch: Arch | None
) -> list[Check]:
    """One check per cross image of the targets whose builds run cross stages (in ``auto``
    or ``cross``: a foreign target with a cross path, ``plan.modes.cross_problem``)."""
    if build_arch is None:
        return []
    crossed = [
        tc
        for tc in targets
        if tc.target.arch is not build_arch
        and tc.build_mode != "emulate"
        and cross_problem(tc, build_arch) is None
    ]
    checks = {tc.cross_base_image: check_cross_image(engine, tc, build_arch) for tc in crossed}
    return list(checks.values())


def _present_image(
    arch: Arch, targets: Sequence[TargetConfig], images: dict[str, Check]
) -> str | None:
    # Running `true` is cheap only when nothing has to be pulled first.
    for tc in targets:
        if tc.target.arch is arch and images[tc.base_image].detail == "present":
            return tc.base_image
    return None
