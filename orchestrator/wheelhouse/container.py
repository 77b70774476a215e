"""The verify container: one fresh container of the runtime image per run, with no network
and the wheelhouse mounted read-only; always removed unless kept for debugging."""

from __future__ import annotations

import secrets
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import docker.errors  # type: ignore[import-untyped]

from orchestrator.build.engine import HINT_START_ENGINE
from orchestrator.errors import EngineError
from orchestrator.wheelhouse.report import LOG_TAIL_LINES

#: Lines of progress (the container's stderr) as they come.
Progress = Callable[[str], None]


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
            raise engine_error(f"cannot create a container of {self.image}", exc) from None
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
            raise engine_error(f"cannot create a container of {self.image}", exc) from None

    def _pull(self) -> None:
        self._say(f"+ pull {self.image} ({self.platform})")
        try:
            self.client.images.pull(self.image, platform=self.platform)
        except docker.errors.DockerException as exc:
            raise EngineError(
                f"runtime image {self.image} for {self.platform} is neither local nor "
                f"pullable: {docker_message(exc)}",
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
                stdout="", stderr_tail="", exit_code=None, start_error=docker_message(exc)
            )
        except docker.errors.DockerException as exc:
            raise engine_error(f"cannot start container {self.name}", exc) from None
        timed_out = threading.Event()
        timer = threading.Timer(timeout, self._kill, (container, timed_out))
        timer.start()
        tail: deque[str] = deque(maxlen=LOG_TAIL_LINES)
        try:
            for line in output_lines(
                container.logs(stream=True, follow=True, stdout=False, stderr=True)
            ):
                tail.append(line)
                self._say(line)
            status = container.wait()
            stdout = as_text(container.logs(stdout=True, stderr=False))
        except docker.errors.DockerException as exc:
            raise engine_error(f"lost container {self.name}", exc) from None
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


def engine_error(what: str, exc: BaseException) -> EngineError:
    return EngineError(
        f"{what}: {docker_message(exc)}",
        hint=HINT_START_ENGINE,
    )


def docker_message(exc: BaseException) -> str:
    explanation = getattr(exc, "explanation", None)
    return str(explanation or exc)


def output_lines(chunks: Iterable[bytes | str]) -> Iterator[str]:
    pending = ""
    for chunk in chunks:
        pending += as_text(chunk)
        *complete, pending = pending.split("\n")
        yield from (line.rstrip("\r") for line in complete)
    if pending:
        yield pending


def as_text(data: bytes | str) -> str:
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else data
