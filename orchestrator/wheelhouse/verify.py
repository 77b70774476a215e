"""Verify: prove a wheelhouse installs and imports in a clean container of the runtime image.

One fresh container of ``tcfg.runtime_image`` for the target's platform, with no network and
the wheelhouse mounted read-only at ``/wheelhouse``. When the wheels need system packages at
run time (the manifest's ``runtime_packages``), the container's image is first the runtime
image with them installed, by the very lines the runtime Dockerfile installs them with
(``syspackages.verify_base_image``; that build has the network, the container does not).
Inside it a script (``container_script``)

1. creates a venv with the image's own Python (``<python> -m venv /tmp/v``);
2. installs ``requirements.txt`` with ``pip install --no-index --only-binary :all:
   --find-links /wheelhouse --require-hashes``: a package that would need compiling fails
   instead of quietly building, so no compiler is ever needed;
3. imports every top-level module of every installed distribution (found from its RECORD),
   each in a fresh interpreter so that one crash cannot hide the others.

The script's protocol on stdout is one JSON object per line (human output goes to stderr)::

    {"step": "venv" | "install", "ok": bool, "returncode": int, "log_tail": str}
    {"name": str, "version": str | null, "installed": bool,
     "imports": {"<module>": "ok" | "<ExcType>: message"}}

``parse_verify_output`` turns those lines into a ``VerifyReport`` and adds, for each failure,
the likely fix (``likely_fix``). The container is always removed, unless ``keep`` asks to keep
it for debugging.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection, Mapping
from pathlib import Path

from packaging.utils import NormalizedName, canonicalize_name

from orchestrator.build.engine import hint_qemu
from orchestrator.config import Recipe, TargetConfig
from orchestrator.errors import BadInputError, EngineError
from orchestrator.knowledge import RuntimeNeeds
from orchestrator.wheelhouse.container import (
    ContainerRun,
    DockerClientLike,
    Progress,
    VerifyContainer,
)
from orchestrator.wheelhouse.judge import parse_verify_output
from orchestrator.wheelhouse.probe import container_script
from orchestrator.wheelhouse.report import VerifyReport
from orchestrator.wheelhouse.syspackages import (
    ImageBuilder,
    RuntimeInstallError,
    installs_packages,
    read_runtime_needs,
    verify_base_image,
)

#: Where the container sees the wheelhouse, and where it builds the venv.
WHEELHOUSE_MOUNT = "/wheelhouse"


VENV_DIR = "/tmp/v"


def verify_wheelhouse(
    wheelhouse_dir: Path,
    tcfg: TargetConfig,
    *,
    docker_client: DockerClientLike,
    progress: Progress | None = None,
    keep: bool = False,
    timeout: float = 3600.0,
    import_timeout: float = 300.0,
    skip_imports: Collection[str] = (),
    recipes: Mapping[NormalizedName, Recipe] | None = None,
    clock: Callable[[], float] = time.monotonic,
    image: str | None = None,
    images: ImageBuilder | None = None,
) -> VerifyReport:
    """Install and import ``wheelhouse_dir`` in a clean ``tcfg.runtime_image`` container.

    Returns the report whatever it says (``report.raise_for_failure()`` turns a failed one
    into ``VerifyFailedError``). Raises ``BadInputError`` when there is no wheelhouse and
    ``EngineError`` when the engine, the image or QEMU is not usable. Distributions named
    in ``skip_imports`` are installed but not imported (hardware-bound modules); a
    recipe's ``imports`` replace the guessed top-level names, and its ``test`` runs after.
    ``image`` is what the container is created from when it is not the runtime image's
    name itself (its platform's ``repo@sha256:...`` behind a multi-platform tag).
    ``images`` (the engine's buildx) installs the wheels' runtime packages into it first;
    a wheelhouse that needs some cannot be verified without it.
    """
    root = _wheelhouse_root(wheelhouse_dir)
    say = progress or (lambda _line: None)
    platform = tcfg.target.arch.docker_platform
    started = clock()
    # A wheelhouse that is only requirements.txt and wheels (no manifest) needs nothing.
    needs = read_runtime_needs(root) if (root / "manifest.json").is_file() else RuntimeNeeds()
    if installs_packages(tcfg, needs):
        if images is None:
            raise EngineError(
                f"{tcfg.target.id}: verify must install {' '.join(needs.packages)} first, "
                "and was given no engine to build with"
            )
        try:
            image = verify_base_image(images, tcfg, image or tcfg.runtime_image, needs, say)
        except RuntimeInstallError as exc:
            return _install_failed(tcfg, exc, seconds=clock() - started)
    command = [
        "-c",
        container_script(),
        WHEELHOUSE_MOUNT,
        VENV_DIR,
        str(import_timeout),
        ",".join(sorted(canonicalize_name(n) for n in skip_imports)),
        _recipes_argument(recipes or {}),
    ]
    say(f"{tcfg.target.id}: verifying {root} in {tcfg.runtime_image} ({platform}, no network)")
    with VerifyContainer(
        docker_client,
        image=image or tcfg.runtime_image,
        platform=platform,
        entrypoint=[tcfg.python],
        command=command,
        mounts={root: WHEELHOUSE_MOUNT},
        # Which run a container belongs to, for `docker ps --filter label=...` (and tests
        # that share the engine with other runs).
        labels={
            "org.wheelhouse.role": "verify",
            "org.wheelhouse.target": tcfg.target.id,
            "org.wheelhouse.wheelhouse": str(Path(root).resolve()),
        },
        keep=keep,
        progress=say,
    ) as container:
        run = container.run(timeout=timeout)
        kept = container.name if keep else None
    _raise_for_engine_failure(run, tcfg)
    return parse_verify_output(
        run.stdout,
        target=tcfg.target,
        image=tcfg.runtime_image,
        stderr_tail=run.stderr_tail,
        exit_code=run.exit_code,
        timed_out=run.timed_out,
        start_error=run.start_error,
        missing=_manifest_missing(root),
        seconds=clock() - started,
        container=kept,
    )


def _install_failed(
    tcfg: TargetConfig, exc: RuntimeInstallError, *, seconds: float
) -> VerifyReport:
    return VerifyReport(
        target=tcfg.target,
        ok=False,
        packages=(),
        install_log_tail=exc.tail,
        image=tcfg.runtime_image,
        error=exc.message,
        hint="check the names (the knowledge file's runtime_apt/runtime_apk, or "
        "wheelhouse.yaml `packages:`) against the runtime image's distribution, and that "
        "its package mirror answers",
        seconds=seconds,
    )


def _recipes_argument(recipes: Mapping[NormalizedName, Recipe]) -> str:
    """What the container script needs of each recipe: its imports and its test."""
    data = {
        name: {"imports": list(r.imports) if r.imports is not None else None, "test": r.test}
        for name, r in sorted(recipes.items())
        if r.imports is not None or r.test is not None
    }
    return json.dumps(data, sort_keys=True) if data else ""


def _wheelhouse_root(wheelhouse_dir: Path) -> Path:
    # Resolved: Docker mounts what the path points to now, even if a collect swaps it later.
    root = wheelhouse_dir.resolve()
    if not (root / "requirements.txt").is_file():
        raise BadInputError(
            f"no wheelhouse at {wheelhouse_dir} (requirements.txt is missing)",
            hint="run `wheelhouse build` first, or pass the directory it wrote",
        )
    return root


def _manifest_missing(root: Path) -> list[dict[str, str]]:
    """Packages the manifest lists as missing (their build failed)."""
    try:
        data = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
        missing = data.get("missing", [])
    except (OSError, ValueError, AttributeError):
        return []
    return [m for m in missing if isinstance(m, dict) and isinstance(m.get("name"), str)]


def _raise_for_engine_failure(run: ContainerRun, tcfg: TargetConfig) -> None:
    if run.stdout.strip() or run.timed_out:
        return
    text = f"{run.start_error or ''}\n{run.stderr_tail}"
    if "exec format error" in text:
        platform = tcfg.target.arch.docker_platform
        raise EngineError(
            f"{tcfg.runtime_image} cannot run as {platform} here: exec format error",
            hint=hint_qemu(platform),
        )
