"""The boundary to Docker: docker-py for the engine API, the buildx CLI for builds.

Everything that can go wrong out there is translated here into ``EngineError`` with
a fix in its hint; nothing else in wheelhouse imports docker or runs ``docker``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Protocol, Self

import docker  # type: ignore[import-untyped]
import docker.errors  # type: ignore[import-untyped]

from orchestrator.errors import DiskFullError, EngineError, RegistryError, TargetError
from orchestrator.targets import Arch

LineCallback = Callable[[str], None]

HINT_START_ENGINE = (
    "start Docker: `dockerd &` or `sudo systemctl start docker`; "
    "on a bare Debian machine `bash scripts/bootstrap-engine.sh`"
)
HINT_BUILDX = (
    "install buildx >= 0.11: the docker-buildx package (Debian) or docker-buildx-plugin "
    "(Docker's repository); on a bare Debian machine `bash scripts/bootstrap-engine.sh`"
)


def hint_qemu(platform: str) -> str:
    arch = platform.split("/")[1]
    return (
        f"register QEMU for {arch}: `docker run --privileged --rm tonistiigi/binfmt "
        f"--install {arch}` or `apt-get install qemu-user-static binfmt-support`, "
        "then restart dockerd so BuildKit sees the new platform"
    )


#: How many lines of buildx output a result keeps for failure reports.
TAIL_LINES = 200


@dataclass(frozen=True, kw_only=True)
class BuildxRequest:
    context: Path
    dockerfile: Path
    platform: str
    output_dir: Path
    build_args: Mapping[str, str] = field(default_factory=dict)
    target_stage: str | None = None
    #: Stages BuildKit must run again even when cached (wheelhouse caches their results).
    no_cache_filter: tuple[str, ...] = ()
    #: Seconds for the whole `docker buildx build`; ``None``: no limit.
    timeout: float | None = None
    #: Names of environment variables buildx hands to the build as secrets (their values
    #: come from buildx's own environment, never its command line: ``build.secrets``).
    secrets: tuple[str, ...] = ()
    #: Load the result into the engine as this image (``--output type=docker,name=...``)
    #: instead of exporting its files to ``output_dir``.
    image_name: str | None = None


@dataclass(frozen=True, kw_only=True)
class PushRequest:
    """One platform's image, built from ``dockerfile`` and pushed as ``ref``."""

    context: Path
    dockerfile: Path
    platform: str
    ref: str
    labels: Mapping[str, str]
    #: Where buildx writes what it pushed (its ``containerimage.digest``).
    metadata_file: Path


@dataclass(frozen=True, kw_only=True)
class BuildxResult:
    returncode: int
    seconds: float
    tail: tuple[str, ...]
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out


class Engine(Protocol):
    """What the builder needs of Docker."""

    def ping(self) -> None: ...

    def image_digest(self, image: str, platform: str) -> str:
        """The image Id of ``image`` for ``platform``, pulling it when absent."""
        ...

    def buildx_build(self, request: BuildxRequest, on_line: LineCallback) -> BuildxResult: ...


ImageState = Literal["present", "pullable", "missing"]


@dataclass(frozen=True, kw_only=True)
class PlatformImage:
    """Whether an image can be had for one platform (``DockerEngine.platform_image``)."""

    #: ``present``: the local tag holds that platform; ``pullable``: the registry has it.
    state: ImageState
    #: The platform the local tag holds (the classic image store keeps one per tag), if any.
    local_platform: str | None = None


class Process(Protocol):
    """The part of ``subprocess.Popen`` the engine uses (text mode)."""

    @property
    def stdout(self) -> Iterable[str] | None: ...

    @property
    def returncode(self) -> int | None: ...

    def wait(self) -> int: ...

    def communicate(self) -> tuple[str, Any]: ...

    def kill(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


Popen = Callable[..., Process]


def _system_popen(args: list[str], **kwargs: Any) -> Process:
    # Looked up at call time, so tests/conftest.py's guard sees every call.
    process: subprocess.Popen[str] = subprocess.Popen(args, **kwargs)
    return process


class DockerEngine:
    """The real engine. ``client_factory`` and ``popen`` are looked up when used, so
    tests can replace ``docker.from_env`` and ``subprocess.Popen``."""

    def __init__(
        self,
        *,
        builder: str | None = None,
        docker_cli: str = "docker",
        client_factory: Callable[[], Any] | None = None,
        popen: Popen | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.builder = builder
        self.docker_cli = docker_cli
        self._client_factory = client_factory
        self._popen = popen
        self._clock = clock
        self._client: Any = None
        self._indexes: dict[str, dict[str, str]] = {}

    # --- docker-py ----------------------------------------------------------------------------

    @property
    def client(self) -> Any:
        if self._client is None:
            factory = self._client_factory or docker.from_env
            with _engine_errors("connect to the Docker engine"):
                self._client = factory()
        return self._client

    def ping(self) -> None:
        with _engine_errors("ping the Docker engine"):
            self.client.ping()

    def image_id(self, image: str) -> tuple[str, str] | None:
        """(Id, os/arch[/variant]) of a local image, or ``None`` when absent."""
        with _engine_errors(f"inspect image {image}"):
            try:
                attrs = self.client.images.get(image).attrs
            except docker.errors.ImageNotFound:
                return None
        return str(attrs["Id"]), _image_platform(attrs)

    def pull(self, image: str, platform: str) -> None:
        repo, tag = docker.utils.parse_repository_tag(image)
        try:
            self.client.images.pull(repo, tag=tag or "latest", platform=platform)
        except (docker.errors.DockerException, OSError) as exc:
            raise EngineError(
                f"base image {image} ({platform}) is not present and could not be pulled: "
                f"{_short(exc)}",
                hint="check the image name and your registry login (`docker login`), or "
                "build/load the image locally (`docker images` lists what is there)",
            ) from None

    def image_digest(self, image: str, platform: str) -> str:
        local = self.platform_ref(image, platform)
        found = self.image_id(local)
        if found is None:
            self.pull(local, platform)
            found = self.image_id(local)
            if found is None:
                raise EngineError(f"image {image} is still missing after a pull")
        image_id, actual = found
        if not _same_platform(actual, platform):
            raise EngineError(
                f"image {image} holds {actual}, but the target needs {platform}",
                hint="with the classic image store one tag holds one platform: give this "
                f"target a base_image tag of its own that holds {platform} "
                f"(e.g. `docker pull --platform {platform} {image}` then `docker tag`), "
                "or push a multi-platform tag to a registry",
            )
        return image_id

    def platform_ref(self, image: str, platform: str) -> str:
        """What to run ``image`` as for ``platform``: ``image`` itself when the local tag
        holds that platform or the registry has no index for it, else ``repo@sha256:...``
        of that platform's manifest in the registry's index. With the classic image store
        one tag holds one platform, so a multi-platform tag (``python:3.12-slim``) used
        for arm64 and amd64 targets alike is pinned per platform, never re-pulled over."""
        found = self.image_id(image)
        if found is not None and _same_platform(found[1], platform):
            return image
        if "@" in image:
            return image
        digest = self.index_manifests(image).get(_platform_key(platform))
        if digest is None:
            return image
        return f"{docker.utils.parse_repository_tag(image)[0]}@{digest}"

    def index_manifests(self, image: str) -> dict[str, str]:
        """platform -> manifest digest of the registry's index for ``image``; empty when the
        registry cannot be asked or serves one image (``imagetools inspect --raw``)."""
        if image not in self._indexes:
            code, out = self._run(
                [self.docker_cli, "buildx", "imagetools", "inspect", "--raw", image]
            )
            manifests: dict[str, str] = {}
            if code == 0:
                try:
                    listed = json.loads(out).get("manifests") or []
                except (ValueError, AttributeError):
                    listed = []
                for entry in listed:
                    key = _platform_key(_registry_platform(entry.get("platform") or {}))
                    manifests.setdefault(key, str(entry.get("digest")))
            self._indexes[image] = manifests
        return self._indexes[image]

    def image_state(self, image: str) -> ImageState:
        """Present locally, pullable (the registry knows it), or missing: never downloads."""
        if self.image_id(image) is not None:
            return "present"
        try:
            self.client.api.inspect_distribution(image)
        except (docker.errors.DockerException, OSError):
            return "missing"
        return "pullable"

    def platform_image(self, image: str, platform: str) -> PlatformImage:
        """``image`` for ``platform``: in the local store, in the registry, or missing.
        Never downloads (the registry is asked for its manifest list only)."""
        found = self.image_id(image)
        local = found[1] if found is not None else None
        if local is not None and _same_platform(local, platform):
            return PlatformImage(state="present", local_platform=local)
        offered = self._registry_platforms(image)
        # A registry that lists no platforms serves one image: pulling will tell.
        pullable = offered is not None and (
            not offered or any(_same_platform(p, platform) for p in offered)
        )
        return PlatformImage(state="pullable" if pullable else "missing", local_platform=local)

    def _registry_platforms(self, image: str) -> tuple[str, ...] | None:
        """The platforms the registry offers for ``image``; ``None``: it does not know it."""
        try:
            found = self.client.api.inspect_distribution(image)
        except (docker.errors.DockerException, OSError):
            return None
        return tuple(_registry_platform(p) for p in found.get("Platforms") or ())

    def run_true(self, image: str, platform: str) -> str | None:
        """Run ``true`` in ``image`` for ``platform``; ``None`` if it ran, else the error."""
        try:
            self.client.containers.run(image, ["true"], platform=platform, remove=True)
        except (docker.errors.DockerException, OSError) as exc:
            return _short(exc)
        return None

    def run_output(self, image: str, platform: str, command: list[str]) -> str:
        """Run ``command`` in a throwaway container of ``image``; its standard output."""
        local = self.platform_ref(image, platform)
        with _engine_errors(f"run {command[0]} in {image} ({platform})"):
            out = self.client.containers.run(
                local, command, platform=platform, remove=True, network_disabled=True
            )
        return bytes(out).decode("utf-8", "replace")

    # --- the buildx CLI -----------------------------------------------------------------------

    def _run(self, args: list[str]) -> tuple[int, str]:
        popen: Popen = self._popen or _system_popen
        try:
            with popen(
                args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            ) as process:
                out, _ = process.communicate()
                return process.wait(), str(out)
        except FileNotFoundError:
            raise EngineError(
                f"the Docker CLI `{args[0]}` is not installed", hint=HINT_START_ENGINE
            ) from None

    def buildx_version(self) -> str:
        """The buildx version (``0.13.1``); ``EngineError`` when buildx is missing."""
        code, out = self._run([self.docker_cli, "buildx", "version"])
        match = re.search(r"\bv?(\d+\.\d+(?:\.\d+)?)", out)
        if code != 0 or match is None:
            raise EngineError(f"docker buildx is not available: {out.strip()}", hint=HINT_BUILDX)
        return match.group(1)

    def buildx_platforms(self, *, bootstrap: bool = False) -> tuple[str, ...]:
        """Platforms the builder lists (``docker buildx inspect``), its native one first;
        ``bootstrap`` starts a builder that is not running (a stopped one lists none)."""
        args = [self.docker_cli, "buildx", "inspect", *(["--bootstrap"] if bootstrap else [])]
        if self.builder:
            args.append(self.builder)
        code, out = self._run(args)
        if code != 0:
            raise _classify(out, None) or self._inspect_error(out)
        return parse_platforms(out)

    def build_arch(self) -> Arch:
        """The architecture the builder runs cross stages on (BuildKit's ``$BUILDPLATFORM``):
        its native platform, the first one ``docker buildx inspect`` lists."""
        platforms = self.buildx_platforms(bootstrap=True)
        who = f"buildx builder {self.builder}" if self.builder else "the default buildx builder"
        if not platforms:
            raise EngineError(
                f"{who} lists no platforms (`docker buildx inspect --bootstrap`)",
                hint="check the builder's nodes: `docker buildx ls`",
            )
        arch = _platform_arch(platforms[0])
        if arch is None:
            raise EngineError(
                f"{who} runs on {platforms[0]}, an architecture wheelhouse cannot build on",
                hint="use a builder whose first platform is linux/amd64 or linux/arm64 "
                "(--builder, or build.builder in wheelhouse.yaml)",
            )
        return arch

    def _inspect_error(self, output: str) -> EngineError:
        message = f"`docker buildx inspect` failed: {_last_error_line(output)}"
        if self.builder is None:
            return EngineError(message, hint=HINT_BUILDX)
        return EngineError(
            message,
            hint=f"check the builder name `{self.builder}` (`docker buildx ls` lists them), or "
            "drop --builder / build.builder to use docker's current builder",
        )

    def buildx_args(self, request: BuildxRequest) -> list[str]:
        args = [self.docker_cli, "buildx", "build", "--platform", request.platform]
        output = (
            f"type=local,dest={request.output_dir}"
            if request.image_name is None
            else f"type=docker,name={request.image_name}"
        )
        args += ["--progress=plain", "--output", output]
        if self.builder:
            args += ["--builder", self.builder]
        for name, value in request.build_args.items():
            args += ["--build-arg", f"{name}={value}"]
        if request.target_stage:
            args += ["--target", request.target_stage]
        for stage in request.no_cache_filter:
            args += ["--no-cache-filter", stage]
        for name in request.secrets:
            args += ["--secret", f"id={name},env={name}"]
        return [*args, "-f", str(request.dockerfile), str(request.context)]

    def buildx_build(self, request: BuildxRequest, on_line: LineCallback) -> BuildxResult:
        """Run one build, streaming its plain progress line by line to ``on_line``."""
        popen: Popen = self._popen or _system_popen
        args = self.buildx_args(request)
        tail: deque[str] = deque(maxlen=TAIL_LINES)
        start = self._clock()
        # No start_new_session: buildx stays in wheelhouse's process group, so Ctrl-C or a CI
        # runner's kill of the group stops it too, and BuildKit cancels the build when its
        # client goes. SIGKILLing wheelhouse's process alone leaves buildx running until its
        # next line of output meets the closed pipe (tests/integration/test_kill.py); SIGTERM
        # or SIGINT to it alone kills buildx below (tests/integration/test_interrupt.py).
        try:
            process = popen(
                args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
            )
        except FileNotFoundError:
            raise EngineError(
                f"the Docker CLI `{self.docker_cli}` is not installed", hint=HINT_START_ENGINE
            ) from None
        with process, _deadline(process, request.timeout) as expired:
            assert process.stdout is not None
            try:
                for raw in process.stdout:
                    line = raw.rstrip("\n")
                    tail.append(line)
                    on_line(line)
            except BaseException:
                # SIGTERM to wheelhouse alone (`docker stop`, `kill PID`) or an error: the
                # build stops with it (BuildKit cancels when its client goes).
                process.kill()
                raise
            returncode = process.wait()
        result = BuildxResult(
            returncode=returncode,
            seconds=self._clock() - start,
            tail=tuple(tail),
            timed_out=expired.is_set(),
        )
        if not result.ok and not result.timed_out:
            output = "\n".join(tail)
            error = _classify(output, request.platform) or _export_out_of_space(
                output, request.output_dir
            )
            if error is not None:
                raise error
        return result

    # --- registry pushes (wheelhouse publish) --------------------------------------------------

    def push_image(self, request: PushRequest) -> str:
        """Build ``request`` for its one platform and push it as ``request.ref``; its
        manifest digest. Credentials are the engine's and docker's own (``docker login``)."""
        args = [self.docker_cli, "buildx", "build", "--platform", request.platform]
        args += ["--progress=plain", "--provenance=false"]
        args += ["--output", f"type=image,name={request.ref},push=true"]
        args += ["--metadata-file", str(request.metadata_file)]
        if self.builder:
            args += ["--builder", self.builder]
        for name, value in sorted(request.labels.items()):
            args += ["--label", f"{name}={value}"]
        code, out = self._run([*args, "-f", str(request.dockerfile), str(request.context)])
        if code != 0:
            raise _classify(out, None) or _registry_error(out, request.ref)
        digest = json.loads(request.metadata_file.read_text()).get("containerimage.digest")
        if not isinstance(digest, str) or not digest.startswith("sha256:"):
            raise EngineError(f"buildx pushed {request.ref} but reported no manifest digest")
        return digest

    def create_index(self, tag: str, sources: Sequence[str]) -> None:
        """Point ``tag`` at one multi-platform index of ``sources`` (``repo@digest``)."""
        code, out = self._run(
            [self.docker_cli, "buildx", "imagetools", "create", "--tag", tag, *sources]
        )
        if code != 0:
            raise _classify(out, None) or _registry_error(out, tag)

    def registry_status(self, ref: str) -> str:
        """Whether ``ref``'s registry answers: what it holds, or that it is not pushed yet;
        ``RegistryError`` (with the fix) when it cannot be reached or refuses to answer."""
        code, out = self._run([self.docker_cli, "buildx", "imagetools", "inspect", "--raw", ref])
        if code == 0:
            try:
                listed = json.loads(out).get("manifests") or []
            except (ValueError, AttributeError):
                listed = []
            platforms = [_registry_platform(m.get("platform") or {}) for m in listed]
            return f"{ref} holds {', '.join(platforms) or 'one image'}"
        if any(s in out.lower() for s in ("not found", "manifest unknown", "name unknown")):
            return f"reachable; {ref} is not pushed yet"
        raise _classify(out, None) or _registry_error(out, ref)

    def index_platforms(self, ref: str) -> tuple[str, ...]:
        """The platforms the registry's index for ``ref`` lists (``imagetools inspect``)."""
        code, out = self._run([self.docker_cli, "buildx", "imagetools", "inspect", "--raw", ref])
        if code != 0:
            raise _classify(out, None) or _registry_error(out, ref)
        manifests = json.loads(out).get("manifests") or []
        return tuple(_registry_platform(m.get("platform") or {}) for m in manifests)


# --- helpers ----------------------------------------------------------------------------------


@contextmanager
def _engine_errors(doing: str) -> Iterator[None]:
    """docker-py's and requests' failures (requests' are OSErrors) -> EngineError."""
    try:
        yield
    except (docker.errors.DockerException, OSError) as exc:
        raise EngineError(f"could not {doing}: {_short(exc)}", hint=HINT_START_ENGINE) from None


@contextmanager
def _deadline(process: Process, seconds: float | None) -> Iterator[threading.Event]:
    """Kill ``process`` after ``seconds``; the event says whether that happened."""
    expired = threading.Event()

    def kill() -> None:
        expired.set()
        process.kill()

    timer = threading.Timer(seconds, kill) if seconds is not None else None
    if timer is not None:
        timer.daemon = True
        timer.start()
    try:
        yield expired
    finally:
        if timer is not None:
            timer.cancel()


_ENGINE_DOWN = (
    "Cannot connect to the Docker daemon",
    "error during connect",
    "Is the docker daemon running",
)
_NO_BUILDX = ("unknown command: docker buildx", "'buildx' is not a docker command")
_NO_QEMU = ("exec format error",)
_NO_IMAGE = ("pull access denied", "failed to resolve source metadata", "not found: manifest")


def _classify(output: str, platform: str | None) -> EngineError | DiskFullError | None:
    """The engine-level problem a failed buildx run reports, if it is one."""
    last = _last_error_line(output)
    if "no space left on device" in output.lower():
        return DiskFullError(
            f"no space left on device during docker buildx build: {last}",
            hint="free space where the build's output goes (the cache's work/ directory: "
            "`cache_dir:` or $WHEELHOUSE_CACHE_DIR) or in Docker's data root "
            "(`docker system df`), then run the build again",
        )
    if any(s in output for s in _ENGINE_DOWN):
        return EngineError(f"the Docker engine is not answering: {last}", hint=HINT_START_ENGINE)
    if any(s in output for s in _NO_BUILDX):
        return EngineError("docker buildx is not installed", hint=HINT_BUILDX)
    if platform is not None and any(s in output for s in _NO_QEMU):
        return EngineError(
            f"the engine cannot run {platform} programs (no QEMU emulation): {last}",
            hint=hint_qemu(platform),
        )
    if any(s in output for s in _NO_IMAGE):
        return EngineError(
            f"the base image is missing and could not be pulled: {last}",
            hint="build or load it locally (`docker images`), or check its name and "
            "your registry login",
        )
    return None


_UNREACHABLE = ("connection refused", "no such host", "i/o timeout", "server gave HTTP response")
_DENIED = ("denied", "unauthorized", "insufficient_scope", "authentication required")


def _registry_error(output: str, ref: str) -> RegistryError:
    """A failed push or index write, with the fix for the usual causes."""
    last = _last_error_line(output)
    registry = ref.split("/", 1)[0] if "/" in ref else "docker.io"
    if any(s in output for s in _UNREACHABLE):
        return RegistryError(
            f"the registry of {ref} cannot be reached: {last}",
            hint=f"check that {registry} is up and its name is right; a plain-HTTP registry "
            "other than localhost needs an `insecure-registries` entry in the engine's "
            "daemon.json",
        )
    if any(s in output.lower() for s in _DENIED):
        return RegistryError(
            f"the registry refused to let this machine push {ref}: {last}",
            hint=f"log in with push rights (`docker login {registry}`), or pick a repository "
            "you may push to",
        )
    return RegistryError(
        f"pushing {ref} failed: {last}",
        hint=f"check the reference and the registry ({registry}); WHEELHOUSE_DEBUG=1 shows more",
    )


#: buildx's local exporter step; when the client's write fails it reports only ``EOF``.
_EXPORT_STEP = re.compile(r"^#(\d+) exporting to client directory", re.MULTILINE)
#: Free space below which a failed export is taken for a full file system.
EXPORT_SPACE_MARGIN = 1 << 20


def _export_out_of_space(output: str, output_dir: Path) -> DiskFullError | None:
    """A failed export into a file system with (almost) no space left: buildx's client
    fails its write with ENOSPC and says only ``ERROR: EOF`` or ``error from receiver:
    context canceled`` (both seen with a full cache), so a failed run that reached the
    export step and the free space of ``output_dir`` tell it."""
    if _EXPORT_STEP.search(output) is None:
        return None
    where = next((p for p in (output_dir, *output_dir.parents) if p.exists()), None)
    if where is None:
        return None
    fs = os.statvfs(where)
    if fs.f_bavail * fs.f_frsize >= EXPORT_SPACE_MARGIN:
        return None
    return DiskFullError(
        f"no space left on device during docker buildx build: exporting the build's "
        f"output to {output_dir} failed ({_last_error_line(output)}) with "
        f"{fs.f_bavail * fs.f_frsize // 1024} KiB free there",
        hint="free space where the build's output goes (the cache's work/ directory: "
        "`cache_dir:` or $WHEELHOUSE_CACHE_DIR), then run the build again",
    )


def _last_error_line(output: str) -> str:
    lines = [line for line in output.splitlines() if "ERROR" in line or "error" in line]
    lines = lines or output.strip().splitlines() or [""]
    return lines[-1].strip()


def parse_platforms(inspect_output: str) -> tuple[str, ...]:
    """The ``Platforms:`` line(s) of ``docker buildx inspect``, ``*`` marks dropped."""
    found: list[str] = []
    for line in inspect_output.splitlines():
        if line.strip().startswith("Platforms:"):
            items = line.split(":", 1)[1].split(",")
            found += [i.strip().rstrip("*").strip() for i in items if i.strip()]
    return tuple(dict.fromkeys(found))


def _platform_arch(platform: str) -> Arch | None:
    """``linux/amd64``, ``linux/arm64/v8``, ``linux/arm/v7`` -> the Arch; ``None``: unknown."""
    for text in (platform, "/".join(platform.split("/")[:2])):
        try:
            return Arch.parse(text)
        except TargetError:
            continue
    return None


def _registry_platform(entry: Mapping[str, Any]) -> str:
    """``{"os": "linux", "architecture": "arm64", "variant": "v8"}`` -> ``linux/arm64/v8``."""
    parts = [str(entry.get("os", "linux")), str(entry.get("architecture", ""))]
    if entry.get("variant"):
        parts.append(str(entry["variant"]))
    return "/".join(parts)


def _platform_key(platform: str) -> str:
    # arm64 images often carry variant v8; linux/arm64 and linux/arm64/v8 are the same.
    return platform[: -len("/v8")] if platform.endswith("arm64/v8") else platform


def _image_platform(attrs: Mapping[str, Any]) -> str:
    parts = [str(attrs.get("Os", "linux")), str(attrs.get("Architecture", ""))]
    if attrs.get("Variant"):
        parts.append(str(attrs["Variant"]))
    return "/".join(parts)


def _same_platform(actual: str, wanted: str) -> bool:
    return _platform_key(actual) == _platform_key(wanted)


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


# --- BuildKit's plain progress ----------------------------------------------------------------

StepKind = Literal["start", "output", "done", "cached", "error", "canceled"]

_VERTEX = re.compile(r"^#(?P<id>\d+) (?P<rest>.*)$")
_HEADER = re.compile(r"^\[(?P<stage>[^\]\s]+)(?:\s+\d+/\d+)?\]\s*(?P<step>.*)$")
_DONE = re.compile(r"^DONE (?P<seconds>\d+(?:\.\d+)?)s$")
_OUTPUT = re.compile(r"^\d+(?:\.\d+)? (?P<text>.*)$")


@dataclass(frozen=True, kw_only=True)
class StepEvent:
    """One line of ``--progress=plain`` output, tied to its BuildKit vertex and stage."""

    vertex: int
    kind: StepKind
    stage: str | None
    text: str = ""
    seconds: float | None = None


class PlainProgressParser:
    """Feeds on buildx's plain progress, one line at a time; remembers vertex -> stage."""

    def __init__(self) -> None:
        self._stages: dict[int, str | None] = {}

    def feed(self, line: str) -> StepEvent | None:
        match = _VERTEX.match(line.rstrip())
        if match is None:
            return None
        vertex, rest = int(match["id"]), match["rest"]
        if rest.startswith("["):
            return self._header(vertex, rest)
        stage = self._stages.get(vertex)
        return _status_event(vertex, stage, rest)

    def _header(self, vertex: int, rest: str) -> StepEvent | None:
        header = _HEADER.match(rest)
        stage = header["stage"] if header else None
        if vertex in self._stages:
            return None  # the printer repeats a header when it switches back to a vertex
        self._stages[vertex] = stage
        return StepEvent(
            vertex=vertex, kind="start", stage=stage, text=header["step"] if header else rest
        )


def _status_event(vertex: int, stage: str | None, rest: str) -> StepEvent:
    done = _DONE.match(rest)
    if done:
        return StepEvent(vertex=vertex, kind="done", stage=stage, seconds=float(done["seconds"]))
    if rest == "CACHED":
        return StepEvent(vertex=vertex, kind="cached", stage=stage)
    if rest.startswith("ERROR"):
        return StepEvent(vertex=vertex, kind="error", stage=stage, text=rest)
    if rest.startswith("CANCELED"):
        return StepEvent(vertex=vertex, kind="canceled", stage=stage, text=rest)
    output = _OUTPUT.match(rest)
    return StepEvent(
        vertex=vertex, kind="output", stage=stage, text=output["text"] if output else rest
    )
