"""The Docker boundary with a fake docker-py client and a fake ``Popen``: no engine."""

from __future__ import annotations

import dataclasses
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import docker  # type: ignore[import-untyped]
import docker.errors  # type: ignore[import-untyped]
import pytest

from orchestrator.build.engine import (
    BuildxRequest,
    DockerEngine,
    PlainProgressParser,
    PlatformImage,
    PushRequest,
    StepEvent,
    parse_platforms,
)
from orchestrator.errors import DiskFullError, EngineError, ExitCode, RegistryError
from orchestrator.targets import Arch

AMD64_ID = "sha256:" + "1" * 64


# --- the guard of tests/conftest.py ------------------------------------------------------------


def test_unit_tests_cannot_reach_docker() -> None:
    with pytest.raises(RuntimeError, match="not marked `engine`"):
        docker.from_env()
    with pytest.raises(RuntimeError, match="not marked `engine`"):
        subprocess.run(["/usr/bin/docker", "info"], check=False)
    with pytest.raises(RuntimeError, match="not marked `engine`"):
        subprocess.run("docker buildx version", shell=True, check=False)
    with pytest.raises(RuntimeError, match="not marked `engine`"):
        DockerEngine().ping()
    with pytest.raises(RuntimeError, match="not marked `engine`"):
        DockerEngine().buildx_version()


def test_unit_tests_may_run_other_local_programs() -> None:
    assert subprocess.run(["true"], check=False).returncode == 0


# --- docker-py ---------------------------------------------------------------------------


class FakeImages:
    def __init__(self, images: dict[str, dict[str, Any]], pullable: dict[str, dict[str, Any]]):
        self.images = images
        self.pullable = pullable
        self.pulls: list[tuple[str, str, str]] = []

    def get(self, name: str) -> Any:
        if name not in self.images:
            raise docker.errors.ImageNotFound(f"No such image: {name}")
        return SimpleNamespace(attrs=self.images[name])

    def pull(self, repo: str, tag: str, platform: str) -> None:
        self.pulls.append((repo, tag, platform))
        name = f"{repo}{'@' if tag.startswith('sha256:') else ':'}{tag}"
        if name not in self.pullable:
            raise docker.errors.APIError(f"pull access denied for {repo}")
        self.images[name] = self.pullable[name]


class FakeApi:
    """docker-py's low-level API: ``inspect_distribution`` answers from ``registry``."""

    def __init__(self, registry: dict[str, list[dict[str, str]]]) -> None:
        self.registry = registry
        self.asked: list[str] = []

    def inspect_distribution(self, image: str) -> dict[str, Any]:
        self.asked.append(image)
        if image not in self.registry:
            raise docker.errors.APIError(f"{image}: manifest unknown")
        return {"Descriptor": {}, "Platforms": self.registry[image]}


class FakeClient:
    def __init__(
        self,
        images: dict[str, dict[str, Any]] | None = None,
        pullable: dict[str, dict[str, Any]] | None = None,
        registry: dict[str, list[dict[str, str]]] | None = None,
    ) -> None:
        self.images = FakeImages(images or {}, pullable or {})
        self.api = FakeApi(registry or {})
        self.pings = 0

    def ping(self) -> bool:
        self.pings += 1
        return True


def attrs(arch: str, image_id: str = AMD64_ID, variant: str | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"Id": image_id, "Os": "linux", "Architecture": arch}
    if variant:
        found["Variant"] = variant
    return found


def engine_with(client: Any, index: str | None = None) -> DockerEngine:
    """``index``: what ``imagetools inspect --raw`` prints; ``None``: the registry has none."""
    answer = FakeProcess([index] if index else ["ERROR: not found"], code=0 if index else 1)
    return DockerEngine(client_factory=lambda: client, popen=FakePopen(answer))


ARM64_ID = "sha256:" + "3" * 64
INDEX = (
    '{"manifests": ['
    '{"digest": "sha256:' + "a" * 64 + '", "platform": {"os": "linux", "architecture": "amd64"}},'
    '{"digest": "sha256:' + "b" * 64 + '", "platform": {"os": "linux", "architecture": "arm64",'
    ' "variant": "v8"}}]}'
)


def test_a_multi_platform_tag_is_pinned_to_the_platform_s_manifest() -> None:
    pinned = "127.0.0.1:5000/py@sha256:" + "b" * 64
    client = FakeClient(
        {"127.0.0.1:5000/py:3.11": attrs("amd64")},
        pullable={pinned: attrs("arm64", ARM64_ID, variant="v8")},
    )
    engine = engine_with(client, INDEX)
    assert engine.platform_ref("127.0.0.1:5000/py:3.11", "linux/arm64") == pinned
    assert engine.image_digest("127.0.0.1:5000/py:3.11", "linux/arm64") == ARM64_ID
    assert client.images.pulls == [("127.0.0.1:5000/py", "sha256:" + "b" * 64, "linux/arm64")]
    # The local tag still holds amd64: the amd64 target uses it as it is.
    assert engine.platform_ref("127.0.0.1:5000/py:3.11", "linux/amd64") == "127.0.0.1:5000/py:3.11"
    assert engine.image_digest("127.0.0.1:5000/py:3.11", "linux/amd64") == AMD64_ID


def test_an_index_without_the_platform_leaves_the_tag_and_its_error() -> None:
    client = FakeClient({"reg/py:3.11": attrs("amd64")})
    engine = engine_with(client, INDEX.replace('"arm64"', '"s390x"'))
    with pytest.raises(EngineError, match="holds linux/amd64, but the target needs linux/arm64"):
        engine.image_digest("reg/py:3.11", "linux/arm64")


def test_an_engine_that_does_not_answer_says_how_to_start_one() -> None:
    def down() -> Any:
        raise docker.errors.DockerException(
            "Error while fetching server API version: ('Connection aborted.', "
            "FileNotFoundError(2, 'No such file or directory'))"
        )

    with pytest.raises(EngineError) as info:
        DockerEngine(client_factory=down).ping()
    assert info.value.exit_code == ExitCode.ENGINE_UNAVAILABLE
    assert info.value.message.startswith("could not connect to the Docker engine: Error while")
    assert info.value.hint is not None
    assert "dockerd &" in info.value.hint
    assert "sudo systemctl start docker" in info.value.hint
    assert "bash scripts/bootstrap-engine.sh" in info.value.hint


def test_a_connection_error_during_a_call_is_an_engine_error() -> None:
    client = FakeClient()

    def refused() -> None:
        raise ConnectionRefusedError("connection refused")

    client.ping = refused  # type: ignore[method-assign, assignment]
    with pytest.raises(EngineError, match="could not ping the Docker engine"):
        engine_with(client).ping()


def test_image_digest_of_a_present_image() -> None:
    client = FakeClient({"base:amd64": attrs("amd64")})
    assert engine_with(client).image_digest("base:amd64", "linux/amd64") == AMD64_ID
    assert client.images.pulls == []


def test_arm64_v8_counts_as_arm64() -> None:
    client = FakeClient({"base:arm64": attrs("arm64", variant="v8")})
    assert engine_with(client).image_digest("base:arm64", "linux/arm64") == AMD64_ID


def test_an_image_of_another_platform_is_refused_with_the_reason() -> None:
    client = FakeClient({"base:amd64": attrs("amd64")})
    with pytest.raises(EngineError) as info:
        engine_with(client).image_digest("base:amd64", "linux/arm64")
    assert (
        info.value.message == "image base:amd64 holds linux/amd64, but the target needs linux/arm64"
    )
    assert info.value.hint is not None and "one tag holds one platform" in info.value.hint


def test_a_missing_image_is_pulled_for_the_platform() -> None:
    client = FakeClient(pullable={"python:3.12-alpine": attrs("arm64", "sha256:" + "2" * 64)})
    digest = engine_with(client).image_digest("python:3.12-alpine", "linux/arm64")
    assert digest == "sha256:" + "2" * 64
    assert client.images.pulls == [("python", "3.12-alpine", "linux/arm64")]


def test_a_missing_image_that_cannot_be_pulled() -> None:
    client = FakeClient()
    with pytest.raises(EngineError) as info:
        engine_with(client).image_digest("local/nothing", "linux/arm64")
    assert info.value.message.startswith(
        "base image local/nothing (linux/arm64) is not present and could not be pulled: "
    )
    assert client.images.pulls == [("local/nothing", "latest", "linux/arm64")]


def test_an_image_present_for_the_platform_asks_no_registry() -> None:
    client = FakeClient({"py:amd64": attrs("amd64")})
    found = engine_with(client).platform_image("py:amd64", "linux/amd64")
    assert found == PlatformImage(state="present", local_platform="linux/amd64")
    assert client.api.asked == []


def test_a_local_tag_of_another_platform_is_missing_without_a_registry() -> None:
    client = FakeClient({"py:arm64": attrs("arm64", variant="v8")})
    found = engine_with(client).platform_image("py:arm64", "linux/amd64")
    assert found == PlatformImage(state="missing", local_platform="linux/arm64/v8")
    assert client.api.asked == ["py:arm64"]


def test_the_registry_must_offer_the_platform() -> None:
    both = [{"os": "linux", "architecture": "amd64"}, {"os": "linux", "architecture": "arm64"}]
    arm_only = [{"os": "linux", "architecture": "arm64", "variant": "v8"}]
    client = FakeClient(
        {"python:3.12-slim": attrs("arm64")},
        registry={"python:3.12-slim": both, "arm/only": arm_only, "one/image": []},
    )
    engine = engine_with(client)
    assert engine.platform_image("python:3.12-slim", "linux/amd64") == PlatformImage(
        state="pullable", local_platform="linux/arm64"
    )
    assert engine.platform_image("arm/only", "linux/amd64") == PlatformImage(state="missing")
    assert engine.platform_image("arm/only", "linux/arm64") == PlatformImage(state="pullable")
    assert engine.platform_image("one/image", "linux/amd64") == PlatformImage(state="pullable")
    assert engine.platform_image("no/where", "linux/amd64") == PlatformImage(state="missing")


# --- the buildx CLI ----------------------------------------------------------------------


class FakeProcess:
    """A Popen stand-in: yields ``lines``, then exits with ``code``; ``block`` waits for kill."""

    def __init__(self, lines: list[str], code: int = 0, block: bool = False) -> None:
        self.lines = lines
        self.code = code
        self.killed = threading.Event()
        self.block = block
        self.returncode: int | None = None
        self.stdout: Iterator[str] = self._stream()

    def _stream(self) -> Iterator[str]:
        yield from (line + "\n" for line in self.lines)
        if self.block:
            self.killed.wait(5)

    def wait(self) -> int:
        self.returncode = -9 if self.killed.is_set() else self.code
        return self.returncode

    def communicate(self) -> tuple[str, None]:
        self.wait()
        return "".join(line + "\n" for line in self.lines), None

    def kill(self) -> None:
        self.killed.set()

    def __enter__(self) -> FakeProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class FakePopen:
    def __init__(self, process: FakeProcess | None = None, missing: bool = False) -> None:
        self.process = process or FakeProcess([])
        self.missing = missing
        self.calls: list[list[str]] = []

    def __call__(self, args: list[str], **kwargs: Any) -> FakeProcess:
        if self.missing:
            raise FileNotFoundError(args[0])
        self.calls.append(args)
        return self.process


def request(tmp_path: Path, timeout: float | None = None) -> BuildxRequest:
    return BuildxRequest(
        context=tmp_path / "ctx",
        dockerfile=tmp_path / "ctx" / "Dockerfile",
        platform="linux/arm64",
        output_dir=tmp_path / "out",
        build_args={"BASE_IMAGE": "base:arm64"},
        target_stage="export",
        no_cache_filter=("pkg-a", "pkg-b"),
        timeout=timeout,
    )


def test_buildx_command_line(tmp_path: Path) -> None:
    engine = DockerEngine(builder="wh", popen=FakePopen())
    assert engine.buildx_args(request(tmp_path)) == [
        *("docker", "buildx", "build", "--platform", "linux/arm64", "--progress=plain"),
        *("--output", f"type=local,dest={tmp_path / 'out'}", "--builder", "wh"),
        *("--build-arg", "BASE_IMAGE=base:arm64", "--target", "export"),
        *("--no-cache-filter", "pkg-a", "--no-cache-filter", "pkg-b"),
        *("-f", str(tmp_path / "ctx" / "Dockerfile"), str(tmp_path / "ctx")),
    ]


def test_an_image_build_is_loaded_into_the_engine_under_its_name(tmp_path: Path) -> None:
    engine = DockerEngine(popen=FakePopen())
    loaded = dataclasses.replace(request(tmp_path), image_name="wheelhouse-verify/t:abc")
    args = engine.buildx_args(loaded)
    assert args[args.index("--output") + 1] == "type=docker,name=wheelhouse-verify/t:abc"
    assert not any(a.startswith("type=local") for a in args)


def test_buildx_output_is_streamed_line_by_line(tmp_path: Path) -> None:
    popen = FakePopen(FakeProcess(["#1 [internal] load build definition", "#1 DONE 0.1s"]))
    seen: list[str] = []
    ticks = iter([10.0, 12.5])
    engine = DockerEngine(popen=popen, clock=lambda: next(ticks))
    result = engine.buildx_build(request(tmp_path), seen.append)
    assert seen == ["#1 [internal] load build definition", "#1 DONE 0.1s"]
    assert (result.returncode, result.seconds, result.ok) == (0, 2.5, True)
    assert result.tail == tuple(seen)
    assert popen.calls[0][:3] == ["docker", "buildx", "build"]


def test_a_failed_build_is_a_result_not_an_exception(tmp_path: Path) -> None:
    lines = ["#9 [toolchain 2/2] RUN apt-get update", "#9 ERROR: exit code: 100"]
    popen = FakePopen(FakeProcess(lines, code=1))
    result = DockerEngine(popen=popen).buildx_build(request(tmp_path), lambda _l: None)
    assert (result.ok, result.returncode, result.tail[-1]) == (False, 1, "#9 ERROR: exit code: 100")


def test_exec_format_error_means_no_qemu(tmp_path: Path) -> None:
    lines = [
        "#5 [toolchain 2/2] RUN apt-get update",
        "#5 0.101 exec /bin/sh: exec format error",
        "#5 ERROR: process did not complete successfully: exit code: 1",
    ]
    engine = DockerEngine(popen=FakePopen(FakeProcess(lines, code=1)))
    with pytest.raises(EngineError) as info:
        engine.buildx_build(request(tmp_path), lambda _l: None)
    assert "cannot run linux/arm64 programs (no QEMU emulation)" in info.value.message
    assert info.value.hint is not None
    assert "docker run --privileged --rm tonistiigi/binfmt --install arm64" in info.value.hint
    assert "apt-get install qemu-user-static binfmt-support" in info.value.hint


def test_an_engine_gone_during_the_build(tmp_path: Path) -> None:
    lines = ["ERROR: Cannot connect to the Docker daemon at unix:///var/run/docker.sock."]
    engine = DockerEngine(popen=FakePopen(FakeProcess(lines, code=1)))
    with pytest.raises(EngineError, match="not answering") as info:
        engine.buildx_build(request(tmp_path), lambda _l: None)
    assert info.value.hint is not None and "dockerd &" in info.value.hint


def test_a_base_image_that_cannot_be_pulled(tmp_path: Path) -> None:
    lines = ["ERROR: failed to solve: base:arm64: failed to resolve source metadata for x"]
    engine = DockerEngine(popen=FakePopen(FakeProcess(lines, code=1)))
    with pytest.raises(EngineError, match="base image is missing"):
        engine.buildx_build(request(tmp_path), lambda _l: None)


def test_no_space_for_the_exported_wheels_is_a_disk_full_error(tmp_path: Path) -> None:
    lines = [
        "ERROR: failed to solve: error from receiver: write /c/work/1/out/a.whl: "
        "no space left on device"
    ]
    engine = DockerEngine(popen=FakePopen(FakeProcess(lines, code=1)))
    with pytest.raises(DiskFullError, match="no space left on device during docker") as info:
        engine.buildx_build(request(tmp_path), lambda _l: None)
    assert info.value.exit_code == ExitCode.DISK_FULL
    assert info.value.hint is not None and "docker system df" in info.value.hint


EXPORT_FAILED = [
    "#10 exporting to client directory",
    "#10 copying files 2.92MB 0.0s done",
    "#10 CANCELED",
    "ERROR: failed to solve: error from receiver: context canceled",
]


@pytest.mark.parametrize(
    "last", [EXPORT_FAILED[2:], ["#10 ERROR: EOF", "ERROR: failed to solve: EOF"]]
)
def test_an_export_that_fails_on_a_full_file_system_is_a_disk_full_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, last: list[str]
) -> None:
    # buildx's client hits ENOSPC writing the export and says only EOF or "context
    # canceled" (both seen in tests/integration/test_disk_full.py): the free space tells.
    full = SimpleNamespace(f_bavail=0, f_frsize=4096)
    monkeypatch.setattr("orchestrator.build.engine.os.statvfs", lambda _p: full)
    engine = DockerEngine(popen=FakePopen(FakeProcess([*EXPORT_FAILED[:2], *last], code=1)))
    with pytest.raises(DiskFullError, match="exporting the build's output to") as info:
        engine.buildx_build(request(tmp_path), lambda _l: None)
    assert "with 0 KiB free there" in info.value.message
    assert info.value.hint is not None and "$WHEELHOUSE_CACHE_DIR" in info.value.hint


def test_an_export_that_fails_with_space_left_is_a_failed_build(tmp_path: Path) -> None:
    engine = DockerEngine(popen=FakePopen(FakeProcess(EXPORT_FAILED, code=1)))
    result = engine.buildx_build(request(tmp_path), lambda _l: None)
    assert not result.ok  # tmp_path has room: not a full disk, the packages' failures


def test_an_interrupt_while_buildx_runs_kills_it(tmp_path: Path) -> None:
    """SIGTERM to wheelhouse alone: buildx must not go on building without it."""
    process = FakeProcess(["#1 [internal] load build definition"], block=True)
    engine = DockerEngine(popen=FakePopen(process))

    def interrupted(_line: str) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        engine.buildx_build(request(tmp_path), interrupted)
    assert process.killed.is_set()


def test_no_docker_cli(tmp_path: Path) -> None:
    engine = DockerEngine(popen=FakePopen(missing=True))
    with pytest.raises(EngineError, match="the Docker CLI `docker` is not installed"):
        engine.buildx_build(request(tmp_path), lambda _l: None)


def test_the_overall_time_limit_kills_the_build(tmp_path: Path) -> None:
    process = FakeProcess(["#1 [toolchain 1/2] FROM base"], block=True)
    engine = DockerEngine(popen=FakePopen(process))
    result = engine.buildx_build(request(tmp_path, timeout=0.05), lambda _l: None)
    assert process.killed.is_set()
    assert (result.timed_out, result.ok) == (True, False)


@pytest.mark.parametrize(
    ("output", "version"),
    [
        ("github.com/docker/buildx 0.13.1+ds1 0.13.1+ds1-3\n", "0.13.1"),
        ("github.com/docker/buildx v0.19.3 48d6a39\n", "0.19.3"),
    ],
)
def test_buildx_version(output: str, version: str) -> None:
    engine = DockerEngine(popen=FakePopen(FakeProcess([output.strip()])))
    assert engine.buildx_version() == version


def test_buildx_missing() -> None:
    output = "docker: unknown command: docker buildx"
    engine = DockerEngine(popen=FakePopen(FakeProcess([output], code=1)))
    with pytest.raises(EngineError, match="docker buildx is not available") as info:
        engine.buildx_version()
    assert info.value.hint is not None and "docker-buildx" in info.value.hint


INSPECT = """\
Name:          default
Driver:        docker

Nodes:
Name:             default
Status:           running
Platforms:        linux/amd64, linux/amd64/v2, linux/arm64*, linux/arm/v7
"""


def test_buildx_platforms() -> None:
    assert parse_platforms(INSPECT) == (
        "linux/amd64",
        "linux/amd64/v2",
        "linux/arm64",
        "linux/arm/v7",
    )
    engine = DockerEngine(
        builder="wh", popen=(popen := FakePopen(FakeProcess(INSPECT.splitlines())))
    )
    assert "linux/arm64" in engine.buildx_platforms()
    assert popen.calls == [["docker", "buildx", "inspect", "wh"]]


def test_the_build_arch_is_the_builders_first_platform() -> None:
    popen = FakePopen(FakeProcess(INSPECT.splitlines()))
    assert DockerEngine(builder="wh", popen=popen).build_arch() is Arch.X86_64
    assert popen.calls == [["docker", "buildx", "inspect", "--bootstrap", "wh"]]


@pytest.mark.parametrize(
    ("platforms", "arch"),
    [
        ("linux/arm64*, linux/amd64", Arch.AARCH64),
        ("linux/arm64/v8, linux/arm/v7", Arch.AARCH64),
        ("linux/arm/v7, linux/arm64", Arch.ARMV7L),
        ("linux/amd64/v2, linux/amd64", Arch.X86_64),
    ],
)
def test_the_build_arch_of_other_builders(platforms: str, arch: Arch) -> None:
    output = INSPECT.replace(INSPECT.splitlines()[-1], f"Platforms:        {platforms}")
    popen = FakePopen(FakeProcess(output.splitlines()))
    assert DockerEngine(popen=popen).build_arch() is arch
    assert popen.calls == [["docker", "buildx", "inspect", "--bootstrap"]]


def test_a_builder_that_does_not_exist() -> None:
    output = 'ERROR: no builder "nosuch" found'
    engine = DockerEngine(builder="nosuch", popen=FakePopen(FakeProcess([output], code=1)))
    with pytest.raises(EngineError) as info:
        engine.build_arch()
    assert info.value.exit_code == ExitCode.ENGINE_UNAVAILABLE
    assert info.value.message == '`docker buildx inspect` failed: ERROR: no builder "nosuch" found'
    assert info.value.hint == (
        "check the builder name `nosuch` (`docker buildx ls` lists them), or drop --builder "
        "/ build.builder to use docker's current builder"
    )


def test_a_builder_with_no_platforms() -> None:
    output = "Name:   wh\nDriver: docker-container\n\nNodes:\nName:   wh0\nStatus: inactive\n"
    engine = DockerEngine(popen=FakePopen(FakeProcess(output.splitlines())))
    with pytest.raises(EngineError) as info:
        engine.build_arch()
    assert info.value.message == (
        "the default buildx builder lists no platforms (`docker buildx inspect --bootstrap`)"
    )
    assert info.value.hint == "check the builder's nodes: `docker buildx ls`"


def test_a_builder_on_an_architecture_wheelhouse_cannot_build_on() -> None:
    output = INSPECT.replace("linux/amd64, linux/amd64/v2", "linux/riscv64, linux/amd64")
    engine = DockerEngine(builder="rv", popen=FakePopen(FakeProcess(output.splitlines())))
    with pytest.raises(EngineError) as info:
        engine.build_arch()
    assert info.value.message == (
        "buildx builder rv runs on linux/riscv64, an architecture wheelhouse cannot build on"
    )


def test_an_engine_that_is_down_when_asked_for_the_build_arch() -> None:
    output = "ERROR: Cannot connect to the Docker daemon at unix:///var/run/docker.sock."
    engine = DockerEngine(popen=FakePopen(FakeProcess([output], code=1)))
    with pytest.raises(EngineError) as info:
        engine.build_arch()
    assert info.value.message == f"the Docker engine is not answering: {output}"
    assert info.value.hint is not None and "dockerd &" in info.value.hint


# --- BuildKit's plain progress -------------------------------------------------------------------

TRANSCRIPT = """\
#0 building with "default" instance using docker driver

#1 [internal] load build definition from Dockerfile
#1 transferring dockerfile: 2.01kB done
#1 DONE 0.0s

#5 [toolchain 1/2] FROM docker.io/wheelhouse-test/python:3.11-bookworm-arm64
#5 DONE 0.1s

#6 [toolchain 2/2] RUN apt-get update
#6 CACHED

#9 [pkg-crcmod 1/1] RUN --network=none sh /wheelhouse/build-wheel.sh crcmod
#10 [pkg-cffi 1/1] RUN --network=none sh /wheelhouse/build-wheel.sh cffi
#9 [pkg-crcmod 1/1] RUN --network=none sh /wheelhouse/build-wheel.sh crcmod
#9 DONE 12.3s
#10 1.234 some output
#10 ERROR: process "/bin/sh -c sh /wheelhouse/build-wheel.sh" did not complete
ERROR: failed to solve: process did not complete successfully
"""


def test_plain_progress_is_parsed_into_step_events() -> None:
    parser = PlainProgressParser()
    events = [e for e in map(parser.feed, TRANSCRIPT.splitlines()) if e is not None]
    wanted = [
        StepEvent(
            vertex=0,
            kind="output",
            stage=None,
            text='building with "default" instance using docker driver',
        ),
        StepEvent(
            vertex=1, kind="start", stage="internal", text="load build definition from Dockerfile"
        ),
        StepEvent(
            vertex=1, kind="output", stage="internal", text="transferring dockerfile: 2.01kB done"
        ),
        StepEvent(vertex=1, kind="done", stage="internal", seconds=0.0),
        StepEvent(
            vertex=5,
            kind="start",
            stage="toolchain",
            text="FROM docker.io/wheelhouse-test/python:3.11-bookworm-arm64",
        ),
        StepEvent(vertex=5, kind="done", stage="toolchain", seconds=0.1),
        StepEvent(vertex=6, kind="start", stage="toolchain", text="RUN apt-get update"),
        StepEvent(vertex=6, kind="cached", stage="toolchain"),
        StepEvent(
            vertex=9,
            kind="start",
            stage="pkg-crcmod",
            text="RUN --network=none sh /wheelhouse/build-wheel.sh crcmod",
        ),
        StepEvent(
            vertex=10,
            kind="start",
            stage="pkg-cffi",
            text="RUN --network=none sh /wheelhouse/build-wheel.sh cffi",
        ),
        StepEvent(vertex=9, kind="done", stage="pkg-crcmod", seconds=12.3),
        StepEvent(vertex=10, kind="output", stage="pkg-cffi", text="some output"),
        StepEvent(
            vertex=10,
            kind="error",
            stage="pkg-cffi",
            text='ERROR: process "/bin/sh -c sh /wheelhouse/build-wheel.sh" did not complete',
        ),
    ]
    assert events == wanted


# --- registry pushes (wheelhouse publish) ------------------------------------------------------

DIGEST = "sha256:" + "a" * 64


def push_request(tmp_path: Path) -> PushRequest:
    return PushRequest(
        context=tmp_path / "wheels",
        dockerfile=tmp_path / "Dockerfile",
        platform="linux/arm64",
        ref="127.0.0.1:5000/app/wheels:n-cp311",
        labels={"b": "2", "a": "1"},
        metadata_file=tmp_path / "meta.json",
    )


def test_a_push_is_one_buildx_build_and_returns_the_manifest_digest(tmp_path: Path) -> None:
    (tmp_path / "meta.json").write_text(f'{{"containerimage.digest": "{DIGEST}"}}')
    popen = FakePopen()
    assert DockerEngine(builder="wh", popen=popen).push_image(push_request(tmp_path)) == DIGEST
    assert popen.calls == [
        [
            *("docker", "buildx", "build", "--platform", "linux/arm64"),
            *("--progress=plain", "--provenance=false"),
            *("--output", "type=image,name=127.0.0.1:5000/app/wheels:n-cp311,push=true"),
            *("--metadata-file", str(tmp_path / "meta.json"), "--builder", "wh"),
            *("--label", "a=1", "--label", "b=2"),
            *("-f", str(tmp_path / "Dockerfile"), str(tmp_path / "wheels")),
        ]
    ]


@pytest.mark.parametrize(
    ("output", "message", "hint"),
    [
        (
            "ERROR: failed to push 127.0.0.1:5000/app/wheels:n-cp311: failed to do request: "
            "Head ...: dial tcp 127.0.0.1:5000: connect: connection refused",
            "the registry of 127.0.0.1:5000/app/wheels:n-cp311 cannot be reached",
            "check that 127.0.0.1:5000 is up",
        ),
        (
            "ERROR: failed to push 127.0.0.1:5000/app/wheels:n-cp311: unexpected status from "
            "POST request: 401 Unauthorized: authentication required",
            "the registry refused to let this machine push 127.0.0.1:5000/app/wheels:n-cp311",
            "`docker login 127.0.0.1:5000`",
        ),
        (
            "ERROR: failed to push: denied: requested access to the resource is denied",
            "the registry refused to let this machine push",
            "`docker login 127.0.0.1:5000`",
        ),
    ],
)
def test_a_failed_push_says_why_with_the_fix(
    tmp_path: Path, output: str, message: str, hint: str
) -> None:
    engine = DockerEngine(popen=FakePopen(FakeProcess(["#5 pushing layers", output], code=1)))
    with pytest.raises(RegistryError) as caught:
        engine.push_image(push_request(tmp_path))
    assert message in caught.value.message
    assert hint in (caught.value.hint or "")
    assert caught.value.exit_code is ExitCode.REGISTRY_FAILED


def test_the_index_lists_its_platforms(tmp_path: Path) -> None:
    raw = (
        '{"manifests": [{"platform": {"os": "linux", "architecture": "arm64"}},'
        ' {"platform": {"os": "linux", "architecture": "arm", "variant": "v7"}}]}'
    )
    popen = FakePopen(FakeProcess([raw]))
    engine = DockerEngine(popen=popen)
    engine.create_index("r/app:n", ["r/app@" + DIGEST])
    assert engine.index_platforms("r/app:n") == ("linux/arm64", "linux/arm/v7")
    assert popen.calls == [
        ["docker", "buildx", "imagetools", "create", "--tag", "r/app:n", "r/app@" + DIGEST],
        ["docker", "buildx", "imagetools", "inspect", "--raw", "r/app:n"],
    ]


def test_the_registry_status_says_what_a_reference_holds_or_that_it_is_new() -> None:
    engine = DockerEngine(popen=FakePopen(FakeProcess([INDEX])))
    assert engine.registry_status("r/py:3.11") == "r/py:3.11 holds linux/amd64, linux/arm64/v8"
    missing = FakeProcess(["ERROR: r/app:n: not found"], code=1)
    assert DockerEngine(popen=FakePopen(missing)).registry_status("r/app:n") == (
        "reachable; r/app:n is not pushed yet"
    )
    down = FakeProcess(["ERROR: dial tcp 127.0.0.1:5999: connect: connection refused"], code=1)
    with pytest.raises(RegistryError, match="cannot be reached"):
        DockerEngine(popen=FakePopen(down)).registry_status("127.0.0.1:5999/app:n")
