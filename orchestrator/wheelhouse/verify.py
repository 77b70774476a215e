"""Verify: prove a wheelhouse installs and imports in a clean container of the runtime image.

One fresh container of ``tcfg.runtime_image`` for the target's platform, with no network and
the wheelhouse mounted read-only at ``/wheelhouse``. Inside it a script (``container_script``)

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

import importlib.metadata
import inspect
import json
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import docker.errors  # type: ignore[import-untyped]
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

from orchestrator.build.engine import HINT_START_ENGINE, hint_qemu
from orchestrator.config import TargetConfig
from orchestrator.errors import BadInputError, EngineError, VerifyFailedError
from orchestrator.targets import Target

Progress = Callable[[str], None]

#: Where the container sees the wheelhouse, and where it builds the venv.
WHEELHOUSE_MOUNT = "/wheelhouse"
VENV_DIR = "/tmp/v"

#: Lines of pip's output (or of the container's stderr) a report keeps.
LOG_TAIL_LINES = 40


# --- what the engine must offer (docker.DockerClient does) --------------------------------------


class ContainerLike(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def name(self) -> str: ...

    def start(self) -> Any: ...

    def logs(self, **kwargs: Any) -> Any: ...

    def wait(self, **kwargs: Any) -> Mapping[str, Any]: ...

    def kill(self) -> Any: ...

    def remove(self, **kwargs: Any) -> Any: ...


class ContainerCollectionLike(Protocol):
    def create(self, image: str, command: Any = None, **kwargs: Any) -> ContainerLike: ...


class ImageCollectionLike(Protocol):
    def pull(self, repository: str, tag: str | None = None, **kwargs: Any) -> Any: ...


class DockerClientLike(Protocol):
    @property
    def containers(self) -> ContainerCollectionLike: ...

    @property
    def images(self) -> ImageCollectionLike: ...


# --- the report ----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PackageVerify:
    """One distribution: did it install, and did each of its top-level modules import?"""

    name: str
    version: str | None
    installed: bool
    #: Module -> ``"ok"`` or ``"<ExcType>: message"``.
    imports: Mapping[str, str] = field(default_factory=dict, hash=False)
    #: Why it is not installed (a line of pip's output, or the failed build of the manifest).
    error: str | None = None
    #: Likely fixes, one per distinct failure.
    hints: tuple[str, ...] = ()
    #: Installed but not imported, as configured (``verify_import: false``).
    import_skipped: bool = False

    @property
    def failed_imports(self) -> dict[str, str]:
        return {m: r for m, r in self.imports.items() if r != "ok"}

    @property
    def ok(self) -> bool:
        return self.installed and self.error is None and not self.failed_imports


@dataclass(frozen=True, kw_only=True)
class VerifyReport:
    target: Target
    ok: bool
    packages: tuple[PackageVerify, ...]
    install_log_tail: str
    image: str = ""
    install_ok: bool = False
    #: A failure that belongs to no single package (venv, timeout, crash of the script).
    error: str | None = None
    hint: str | None = None
    seconds: float = 0.0
    #: The container's name when it was kept for debugging.
    container: str | None = None

    @property
    def failed(self) -> tuple[PackageVerify, ...]:
        return tuple(p for p in self.packages if not p.ok)

    def raise_for_failure(self) -> None:
        """Raise ``VerifyFailedError`` naming every failure, unless the report is ok."""
        if self.ok:
            return
        problems = [self.error] if self.error else []
        problems += [_package_problem(p) for p in self.failed]
        hints = dict.fromkeys(
            h for h in (self.hint, *(h for p in self.failed for h in p.hints)) if h
        )
        raise VerifyFailedError(
            f"{self.target.id}: the wheelhouse does not work in {self.image}: "
            + "; ".join(problems or ["pip install failed"]),
            hint="; ".join(hints) or f"read the install log:\n{self.install_log_tail}",
        )


def _package_problem(package: PackageVerify) -> str:
    if not package.installed:
        return f"{package.name} not installed ({package.error or 'see the install log'})"
    failed = ", ".join(f"import {m}: {r}" for m, r in package.failed_imports.items())
    return f"{package.name}: {failed}"


# --- likely fixes ---------------------------------------------------------------------------------

#: Shared libraries wheels often expect from the system: (Debian package, Alpine package).
_LIBRARY_PACKAGES: dict[str, tuple[str, str]] = {
    "libpq.so.5": ("libpq5", "libpq"),
    "libffi.so.8": ("libffi8", "libffi"),
    "libssl.so.3": ("libssl3", "libssl3"),
    "libcrypto.so.3": ("libssl3", "libcrypto3"),
    "libz.so.1": ("zlib1g", "zlib"),
    "libxml2.so.2": ("libxml2", "libxml2"),
    "libxslt.so.1": ("libxslt1.1", "libxslt"),
    "libjpeg.so.62": ("libjpeg62-turbo", "libjpeg-turbo"),
    "libyaml-0.so.2": ("libyaml-0-2", "yaml"),
    "libgomp.so.1": ("libgomp1", "libgomp"),
    "libstdc++.so.6": ("libstdc++6", "libstdc++"),
    "libgcc_s.so.1": ("libgcc-s1", "libgcc"),
    "libgfortran.so.5": ("libgfortran5", "libgfortran"),
    "libopenblas.so.0": ("libopenblas0", "openblas"),
    "libmariadb.so.3": ("libmariadb3", "mariadb-connector-c"),
    "libsqlite3.so.0": ("libsqlite3-0", "sqlite-libs"),
    "libgeos_c.so.1": ("libgeos-c1v5", "geos"),
    "libcairo.so.2": ("libcairo2", "cairo"),
}

_MISSING_WHEEL = "a wheel for this target is missing from the wheelhouse: run `wheelhouse build`"


def _missing_library(match: re.Match[str]) -> str:
    library = match[1]
    known = _LIBRARY_PACKAGES.get(library)
    where = (
        f"apt: {known[0]} / apk: {known[1]}"
        if known
        else f"apt: `apt-file search {library}` / apk: `apk search so:{library}`"
    )
    return (
        f"the runtime image lacks {library}: install it in the runtime stage ({where}) "
        "or let auditwheel vendor it"
    )


_HINTS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = (
    (
        re.compile(r"([\w.+-]+\.so(?:\.[\w.]+)?): cannot open shared object file"),
        _missing_library,
    ),
    (
        re.compile(
            r"undefined symbol|symbol not found|version [`'](?:GLIBC|GLIBCXX|CXXABI)_[\d.]+' not"
        ),
        lambda _m: (
            "built against a newer libc/toolchain than the runtime image: build in a "
            "base image no newer than the runtime image (targets[].base_image), or run a newer "
            "runtime image"
        ),
    ),
    (
        re.compile(
            r"No matching distribution found|Could not find a version that satisfies"
            r"|requires building|--only-binary"
        ),
        lambda _m: _MISSING_WHEEL,
    ),
    (
        re.compile(r"is not a supported wheel on this platform"),
        lambda _m: (
            "the wheelhouse was built for another target: check that the runtime "
            "image's Python, architecture and libc match the target id"
        ),
    ),
    (
        re.compile(r"(?i)do not match the hashes"),
        lambda _m: (
            "a wheel changed after the wheelhouse was collected: run `wheelhouse "
            "build` again (it rewrites the wheelhouse)"
        ),
    ),
    (
        re.compile(r"requires a different Python"),
        lambda _m: (
            "the runtime image's Python is not the target's: use a runtime image "
            "with the target's Python version"
        ),
    ),
    (
        re.compile(r"ensurepip is not available|No module named '?(?:venv|ensurepip)"),
        lambda _m: (
            "the runtime image cannot create a venv: install python3-venv (Debian) "
            "in it, or use an official python image"
        ),
    ),
    (
        re.compile(r"exec format error|wrong ELF class|cannot execute binary file"),
        lambda _m: (
            "a binary for another architecture: the wheel or the image does not match "
            "the target's platform"
        ),
    ),
    (
        re.compile(r"SIGILL|Illegal instruction"),
        lambda _m: (
            "the extension uses CPU instructions the target does not have: build it "
            "for the target's baseline CPU"
        ),
    ),
    (
        re.compile(r"No module named '([\w.]+)'"),
        lambda m: (
            f"the package imports {m[1]}, which is not installed: add the "
            "distribution that provides it (or the extra it belongs to) to your requirements"
        ),
    ),
)


def likely_fix(message: str) -> str | None:
    """The most likely fix for a failure message from pip or an import, if one is known."""
    for pattern, hint in _HINTS:
        match = pattern.search(message)
        if match:
            return hint(match)
    return None


# --- the public entry point --------------------------------------------------------------------


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
    clock: Callable[[], float] = time.monotonic,
) -> VerifyReport:
    """Install and import ``wheelhouse_dir`` in a clean ``tcfg.runtime_image`` container.

    Returns the report whatever it says (``report.raise_for_failure()`` turns a failed one
    into ``VerifyFailedError``). Raises ``BadInputError`` when there is no wheelhouse and
    ``EngineError`` when the engine, the image or QEMU is not usable. Distributions named
    in ``skip_imports`` are installed but not imported (hardware-bound modules).
    """
    root = _wheelhouse_root(wheelhouse_dir)
    say = progress or (lambda _line: None)
    platform = tcfg.target.arch.docker_platform
    command = [
        "-c",
        container_script(),
        WHEELHOUSE_MOUNT,
        VENV_DIR,
        str(import_timeout),
        ",".join(sorted(canonicalize_name(n) for n in skip_imports)),
    ]
    started = clock()
    say(f"{tcfg.target.id}: verifying {root} in {tcfg.runtime_image} ({platform}, no network)")
    with VerifyContainer(
        docker_client,
        image=tcfg.runtime_image,
        platform=platform,
        entrypoint=[tcfg.python],
        command=command,
        mounts={root: WHEELHOUSE_MOUNT},
        labels={"org.wheelhouse.role": "verify", "org.wheelhouse.target": tcfg.target.id},
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


# --- the container ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ContainerRun:
    stdout: str
    stderr_tail: str
    exit_code: int | None
    timed_out: bool = False
    #: The engine refused to start the command (e.g. the image has no such executable).
    start_error: str | None = None


class VerifyContainer:
    """One throwaway container: ``__enter__`` creates it, ``__exit__`` always removes it.

    ``keep=True`` leaves it behind for debugging (``docker start -ai <name>`` reruns it).
    """

    def __init__(
        self,
        client: DockerClientLike,
        *,
        image: str,
        platform: str,
        entrypoint: Sequence[str],
        command: Sequence[str],
        mounts: Mapping[Path, str],
        labels: Mapping[str, str] | None = None,
        keep: bool = False,
        progress: Progress | None = None,
    ) -> None:
        self.client = client
        self.image = image
        self.platform = platform
        self.entrypoint = list(entrypoint)
        self.command = list(command)
        self.mounts = dict(mounts)
        self.labels = dict(labels or {})
        self.keep = keep
        self.name = f"wheelhouse-verify-{secrets.token_hex(6)}"
        self._say = progress or (lambda _line: None)
        self._container: ContainerLike | None = None

    def __enter__(self) -> VerifyContainer:
        self._say(f"+ create {self.name} from {self.image} ({self.platform})")
        try:
            self._container = self._create()
        except docker.errors.ImageNotFound:
            self._pull()
            self._container = self._create_or_fail()
        except docker.errors.DockerException as exc:
            raise _engine_error(f"cannot create a container of {self.image}", exc) from None
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        container, self._container = self._container, None
        if container is None:
            return
        if self.keep:
            self._say(f"kept container {self.name} (remove it with `docker rm {self.name}`)")
            return
        try:
            container.remove(force=True, v=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.DockerException as error:
            # Never mask the outcome (or the exception in flight) because cleanup failed.
            self._say(f"could not remove container {self.name}: {error}")

    def _create(self) -> ContainerLike:
        return self.client.containers.create(
            self.image,
            command=self.command,
            entrypoint=self.entrypoint,
            name=self.name,
            platform=self.platform,
            network_mode="none",
            volumes={str(src): {"bind": dst, "mode": "ro"} for src, dst in self.mounts.items()},
            working_dir="/",
            environment={"PIP_NO_INPUT": "1", "PYTHONDONTWRITEBYTECODE": "1"},
            labels=self.labels,
        )

    def _create_or_fail(self) -> ContainerLike:
        try:
            return self._create()
        except docker.errors.DockerException as exc:
            raise _engine_error(f"cannot create a container of {self.image}", exc) from None

    def _pull(self) -> None:
        self._say(f"+ pull {self.image} ({self.platform})")
        try:
            self.client.images.pull(self.image, platform=self.platform)
        except docker.errors.DockerException as exc:
            raise EngineError(
                f"runtime image {self.image} for {self.platform} is neither local nor "
                f"pullable: {_docker_message(exc)}",
                hint="build or pull it for that platform, or set targets[].runtime_image "
                "in wheelhouse.yaml",
            ) from None

    def run(self, *, timeout: float) -> ContainerRun:
        """Start the command, stream its stderr to progress, wait; kill it after ``timeout``."""
        container = self._require()
        try:
            container.start()
        except docker.errors.APIError as exc:
            return ContainerRun(
                stdout="", stderr_tail="", exit_code=None, start_error=_docker_message(exc)
            )
        except docker.errors.DockerException as exc:
            raise _engine_error(f"cannot start container {self.name}", exc) from None
        timed_out = threading.Event()
        timer = threading.Timer(timeout, self._kill, (container, timed_out))
        timer.start()
        tail: deque[str] = deque(maxlen=LOG_TAIL_LINES)
        try:
            for line in _lines(container.logs(stream=True, follow=True, stdout=False, stderr=True)):
                tail.append(line)
                self._say(line)
            status = container.wait()
            stdout = _text(container.logs(stdout=True, stderr=False))
        except docker.errors.DockerException as exc:
            raise _engine_error(f"lost container {self.name}", exc) from None
        finally:
            timer.cancel()
        return ContainerRun(
            stdout=stdout,
            stderr_tail="\n".join(tail),
            exit_code=status.get("StatusCode"),
            timed_out=timed_out.is_set(),
        )

    def _kill(self, container: ContainerLike, flag: threading.Event) -> None:
        flag.set()
        self._say(f"timed out: killing {self.name}")
        try:
            container.kill()
        except docker.errors.DockerException as exc:
            self._say(f"could not kill {self.name}: {exc}")

    def _require(self) -> ContainerLike:
        if self._container is None:
            raise RuntimeError("VerifyContainer.run() outside its `with` block")
        return self._container


def _engine_error(what: str, exc: BaseException) -> EngineError:
    return EngineError(
        f"{what}: {_docker_message(exc)}",
        hint=HINT_START_ENGINE,
    )


def _docker_message(exc: BaseException) -> str:
    explanation = getattr(exc, "explanation", None)
    return str(explanation or exc)


def _lines(chunks: Iterable[bytes | str]) -> Iterator[str]:
    pending = ""
    for chunk in chunks:
        pending += _text(chunk)
        *complete, pending = pending.split("\n")
        yield from (line.rstrip("\r") for line in complete)
    if pending:
        yield pending


def _text(data: bytes | str) -> str:
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else data


# --- parsing the script's output (pure) ------------------------------------------------------

_CULPRIT_PATTERNS = (
    re.compile(r"No matching distribution found for ([A-Za-z0-9][\w.-]*)"),
    re.compile(r"Could not find a version that satisfies the requirement ([A-Za-z0-9][\w.-]*)"),
    re.compile(r"Package '([\w.-]+)' requires a different Python"),
    re.compile(r"^\s+([A-Za-z0-9][\w.-]*)==\S+ from \S+", re.MULTILINE),
)
_UNSUPPORTED_WHEEL = re.compile(r"(\S+\.whl) is not a supported wheel on this platform")


def install_culprits(log: str) -> dict[str, str]:
    """Package (normalized name) -> the line of pip's output that names it as the failure."""
    culprits: dict[str, str] = {}
    lines = log.splitlines()
    hash_section = any("DO NOT MATCH THE HASHES" in line for line in lines)
    for line in lines:
        for number, pattern in enumerate(_CULPRIT_PATTERNS):
            if number == len(_CULPRIT_PATTERNS) - 1 and not hash_section:
                continue
            match = pattern.search(line)
            if match:
                message = line.strip()
                if number == len(_CULPRIT_PATTERNS) - 1:
                    message = f"hash mismatch: {message}"
                culprits.setdefault(canonicalize_name(match[1]), message)
        wheel = _UNSUPPORTED_WHEEL.search(line)
        if wheel:
            try:
                name = parse_wheel_filename(Path(wheel[1]).name)[0]
            except InvalidWheelFilename:
                continue
            culprits.setdefault(name, line.strip())
    return culprits


def parse_verify_output(
    stdout: str,
    *,
    target: Target,
    image: str,
    stderr_tail: str = "",
    exit_code: int | None = 0,
    timed_out: bool = False,
    start_error: str | None = None,
    missing: Sequence[Mapping[str, str]] = (),
    seconds: float = 0.0,
    container: str | None = None,
) -> VerifyReport:
    """Build the report from the script's JSON lines (see the module docstring)."""
    steps, rows = _json_lines(stdout)
    install = steps.get("install", {})
    install_ok = bool(install.get("ok"))
    log = str(install.get("log_tail") or steps.get("venv", {}).get("log_tail") or stderr_tail)
    culprits = install_culprits(log) if not install_ok else {}
    packages: dict[str, PackageVerify] = {}
    for row in rows:
        package = _package(row, culprits, install_ok)
        packages[package.name] = package
    for name, line in culprits.items():
        packages.setdefault(name, _not_installed(name, None, line))
    for item in missing:
        name = canonicalize_name(item["name"])
        reason = f"its build failed: {item.get('reason') or 'see the build log'}"
        packages[name] = _not_installed(name, item.get("version"), reason, _MISSING_WHEEL)
    error, hint = _global_failure(
        steps,
        log,
        exit_code=exit_code,
        timed_out=timed_out,
        start_error=start_error,
        culprits=culprits,
    )
    ordered = tuple(packages[n] for n in sorted(packages))
    return VerifyReport(
        target=target,
        ok=install_ok and error is None and all(p.ok for p in ordered),
        packages=ordered,
        install_log_tail=log,
        image=image,
        install_ok=install_ok,
        error=error,
        hint=hint,
        seconds=seconds,
        container=container,
    )


def _json_lines(stdout: str) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    steps: dict[str, dict[str, Any]] = {}
    rows: list[dict[str, Any]] = []
    for line in stdout.splitlines():
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if isinstance(data, dict) and isinstance(data.get("step"), str):
            steps[data["step"]] = data
        elif isinstance(data, dict) and isinstance(data.get("name"), str):
            rows.append(data)
    return steps, rows


def _package(
    row: Mapping[str, Any], culprits: Mapping[str, str], install_ok: bool
) -> PackageVerify:
    name = canonicalize_name(str(row["name"]))
    version = row.get("version")
    version = str(version) if version is not None else None
    if not row.get("installed"):
        return _not_installed(name, version, culprits.get(name) or _why_not(culprits, install_ok))
    imports = {str(m): str(r) for m, r in dict(row.get("imports") or {}).items()}
    hints = dict.fromkeys(h for r in imports.values() if r != "ok" for h in [likely_fix(r)] if h)
    return PackageVerify(
        name=name,
        version=version,
        installed=True,
        imports=imports,
        hints=tuple(hints),
        import_skipped=bool(row.get("import_skipped")),
    )


def _why_not(culprits: Mapping[str, str], install_ok: bool) -> str:
    if install_ok:
        return "not installed"
    if culprits:
        return f"not installed: pip stopped at {', '.join(sorted(culprits))}"
    return "not installed: the install step failed"


def _not_installed(
    name: str, version: str | None, error: str, hint: str | None = None
) -> PackageVerify:
    hint = hint or likely_fix(error)
    return PackageVerify(
        name=name, version=version, installed=False, error=error, hints=(hint,) if hint else ()
    )


def _global_failure(
    steps: Mapping[str, Mapping[str, Any]],
    log: str,
    *,
    exit_code: int | None,
    timed_out: bool,
    start_error: str | None,
    culprits: Mapping[str, str],
) -> tuple[str | None, str | None]:
    """A failure no package line explains: (message, hint) or (None, None)."""
    if start_error:
        return f"the runtime image could not start the verify script: {start_error}", (
            "set targets[].python in wheelhouse.yaml to the image's Python command"
            if "executable file not found" in start_error
            else None
        )
    if timed_out:
        return "verify timed out (the container was killed)", (
            "raise the verify timeout; under QEMU imports run several times slower"
        )
    venv = steps.get("venv")
    if venv is not None and not venv.get("ok"):
        return "could not create a venv in the runtime image", likely_fix(log) or (
            "the runtime image needs Python's venv module (Debian: python3-venv)"
        )
    if "install" not in steps:
        return f"the verify script did not finish (exit code {exit_code})", likely_fix(log)
    if not steps["install"].get("ok") and not culprits:
        return "pip install failed", likely_fix(log)
    return None, None


# --- the script that runs inside the container ----------------------------------------------------
#
# Everything below up to ``container_script`` is shipped as source into the runtime image and
# run by *its* Python (any CPython >= 3.8): standard library only, no syntax newer than 3.8.
# Annotations are fine: the shipped source starts with ``from __future__ import annotations``.

_IMPORT_MARKER = "WHEELHOUSE-IMPORT "
_IMPORT_SNIPPET = (
    "import importlib, json, sys\n"
    "try:\n"
    "    importlib.import_module(sys.argv[1])\n"
    "except BaseException as exc:\n"
    "    result = type(exc).__name__ + ': ' + str(exc)\n"
    "else:\n"
    "    result = 'ok'\n"
    f"print({_IMPORT_MARKER!r} + json.dumps(result), flush=True)\n"
)


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _record_modules(paths: Iterable[str]) -> list[str]:
    """Top-level importable modules of a distribution, from the paths its RECORD lists.

    A top-level ``x.py`` or extension ``x.<abi>.so`` is module ``x``; a directory is the
    shallowest one holding ``__init__.py`` (so a namespace package ``a/`` yields ``a.b``).
    ``*.dist-info``, ``*.data``, ``__pycache__``, ``*.pth`` and scripts (``../bin``) are no
    modules.
    """
    modules = set()
    packages = set()
    for raw in paths:
        parts = raw.replace("\\", "/").split("/")
        top = parts[0]
        if top in ("", ".", "..") or top.endswith((".dist-info", ".data")):
            continue
        if "__pycache__" in parts:
            continue
        if len(parts) == 1:
            if top.endswith(".py"):
                modules.add(top[:-3])
            elif top.endswith((".so", ".pyd")):
                modules.add(top.split(".", 1)[0])
            continue
        leaf = parts[-1]
        if leaf == "__init__.py" or (leaf.startswith("__init__.") and leaf.endswith(".so")):
            packages.add(tuple(parts[:-1]))
    for package in packages:
        if not any(package[:depth] in packages for depth in range(1, len(package))):
            modules.add(".".join(package))
    return sorted(m for m in modules if all(p.isidentifier() for p in m.split(".")))


def _modules_of(dist: importlib.metadata.Distribution) -> list[str]:
    files = dist.files
    if files is not None:
        return _record_modules(str(f) for f in files)
    top_level = dist.read_text("top_level.txt") or ""
    return sorted(line.strip() for line in top_level.splitlines() if line.strip())


def _import_in_fresh_process(python: str, module: str, timeout: float) -> str:
    try:
        done = subprocess.run(
            [python, "-I", "-c", _IMPORT_SNIPPET, module],
            capture_output=True,
            cwd="/",
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"TimeoutExpired: import {module} took longer than {timeout:.0f} s"
    for line in reversed(done.stdout.decode("utf-8", "replace").splitlines()):
        if line.startswith(_IMPORT_MARKER):
            return str(json.loads(line[len(_IMPORT_MARKER) :]))
    if done.returncode < 0:
        return f"Crashed: killed by {signal.Signals(-done.returncode).name}"
    errors = done.stderr.decode("utf-8", "replace").strip().splitlines()
    return f"Crashed: exit code {done.returncode}: {errors[-1] if errors else 'no output'}"


def _run_logged(argv: list[str]) -> tuple[int, str]:
    """Run ``argv``, echoing its output to stderr (progress); return the code and the output."""
    sys.stderr.write("+ " + " ".join(argv) + "\n")
    with subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd="/"
    ) as process:
        assert process.stdout is not None
        output = []
        for raw in process.stdout:
            line = raw.decode("utf-8", "replace")
            sys.stderr.write(line)
            output.append(line)
        code = process.wait()
    sys.stderr.flush()
    return code, "".join(output)


def _emit(record: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(record, sort_keys=True) + "\n")
    sys.stdout.flush()


def _step(name: str, code: int, output: str) -> bool:
    tail = "\n".join(output.splitlines()[-40:])
    _emit({"step": name, "ok": code == 0, "returncode": code, "log_tail": tail})
    return code == 0


def _installed(venv: str) -> dict[str, importlib.metadata.Distribution]:
    sites = [str(p) for p in sorted(Path(venv).glob("lib/python*/site-packages"))]
    found: dict[str, importlib.metadata.Distribution] = {}
    for dist in importlib.metadata.distributions(path=sites):
        found.setdefault(_canonical(dist.metadata["Name"] or ""), dist)
    return found


def _requirements(path: str) -> dict[str, str]:
    pins = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        match = re.match(r"\s*([A-Za-z0-9][\w.-]*)==(\S+)", line)
        if match:
            pins[_canonical(match.group(1))] = match.group(2)
    return pins


def _pip_for(venv: str) -> list[str] | None:
    """The image's own pip aimed at ``venv`` (pip >= 22.3 has ``--python``), if it has one.

    Under QEMU, ``ensurepip`` costs a minute: installing pip into the venv and compiling it.
    A venv ``--without-pip`` plus the image's pip gives the same clean environment.
    """
    try:
        version = importlib.metadata.version("pip")
    except importlib.metadata.PackageNotFoundError:
        return None
    match = re.match(r"(\d+)\.(\d+)", version)
    if not match or (int(match.group(1)), int(match.group(2))) < (22, 3):
        return None
    return [sys.executable, "-m", "pip", "--python", venv + "/bin/python"]


def _container_main(argv: list[str]) -> int:
    wheelhouse, venv, import_timeout = argv[0], argv[1], float(argv[2])
    skip = set(argv[3].split(",")) if len(argv) > 3 and argv[3] else set()
    pip = _pip_for(venv)
    make_venv = [sys.executable, "-m", "venv", *(["--without-pip"] if pip else []), venv]
    if not _step("venv", *_run_logged(make_venv)):
        return 0
    before = set(_installed(venv))
    requirements = wheelhouse + "/requirements.txt"
    install = [*(pip or [venv + "/bin/pip"]), "install", "--no-index", "--only-binary", ":all:"]
    install += ["--find-links", wheelhouse, "--require-hashes", "-r", requirements]
    install += ["--no-cache-dir", "--disable-pip-version-check", "--progress-bar", "off"]
    _step("install", *_run_logged(install))
    pins = _requirements(requirements)
    installed = _installed(venv)
    for name in sorted(set(pins) | (set(installed) - before)):
        dist = installed.get(name)
        if dist is None:
            _emit({"name": name, "version": pins[name], "installed": False, "imports": {}})
            continue
        if name in skip:
            _emit(
                {
                    "name": name,
                    "version": dist.version,
                    "installed": True,
                    "imports": {},
                    "import_skipped": True,
                }
            )
            continue
        imports = {}
        for module in _modules_of(dist):
            sys.stderr.write("+ import " + module + "\n")
            imports[module] = _import_in_fresh_process(venv + "/bin/python", module, import_timeout)
        _emit({"name": name, "version": dist.version, "installed": True, "imports": imports})
    return 0


_SHIPPED = (
    _canonical,
    _record_modules,
    _modules_of,
    _import_in_fresh_process,
    _run_logged,
    _emit,
    _step,
    _pip_for,
    _installed,
    _requirements,
    _container_main,
)


def container_script() -> str:
    """The verify script's source, for ``<python> -c`` (argv: wheelhouse, venv, timeout)."""
    header = [
        "from __future__ import annotations",
        "import importlib.metadata, json, re, signal, subprocess, sys",
        "from pathlib import Path",
        "from typing import Any",
        f"_IMPORT_MARKER = {_IMPORT_MARKER!r}",
        f"_IMPORT_SNIPPET = {_IMPORT_SNIPPET!r}",
    ]
    bodies = [inspect.getsource(function) for function in _SHIPPED]
    return (
        "\n".join(header)
        + "\n\n\n"
        + "\n\n".join(bodies)
        + ("\n\nsys.exit(_container_main(sys.argv[1:]))\n")
    )
