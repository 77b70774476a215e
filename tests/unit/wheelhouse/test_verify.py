"""verify_wheelhouse with a fake Docker client; the script's protocol; the likely fixes."""

from __future__ import annotations

import ast
import importlib.metadata
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker.errors  # type: ignore[import-untyped]
import pytest

from orchestrator.build.engine import BuildxRequest, BuildxResult
from orchestrator.config import TargetConfig
from orchestrator.errors import BadInputError, EngineError, VerifyFailedError
from orchestrator.targets import Target
from orchestrator.wheelhouse import probe
from orchestrator.wheelhouse.judge import install_culprits, parse_verify_output
from orchestrator.wheelhouse.probe import container_script
from orchestrator.wheelhouse.report import PackageVerify, VerifyReport, likely_fix
from orchestrator.wheelhouse.verify import verify_wheelhouse

TARGET = Target.parse("cp311-manylinux_2_36_aarch64")
IMAGE = "wheelhouse-test/python:3.11-bookworm-arm64"
TCFG = TargetConfig(
    target=TARGET, base_image=IMAGE, runtime_image=IMAGE, package_manager="apt", python="python3"
)

MISSING_WHEEL = "a wheel for this target is missing from the wheelhouse: run `wheelhouse build`"
LIBPQ = (
    "the runtime image lacks libpq.so.5: install it in the runtime stage "
    "(apt: libpq5 / apk: libpq) or let auditwheel vendor it"
)


def lines(*records: dict[str, Any]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def install_step(ok: bool = True, log: str = "Successfully installed six-1.16.0") -> dict[str, Any]:
    return {"step": "install", "ok": ok, "returncode": 0 if ok else 1, "log_tail": log}


VENV_OK = {"step": "venv", "ok": True, "returncode": 0, "log_tail": ""}
SIX_OK = {"name": "six", "version": "1.16.0", "installed": True, "imports": {"six": "ok"}}


# --- fakes ---------------------------------------------------------------------------------------


class FakeContainer:
    def __init__(
        self,
        *,
        stdout: str,
        stderr: str = "",
        status: int = 0,
        start_error: Exception | None = None,
        wait_error: Exception | None = None,
        hang: bool = False,
    ) -> None:
        self.id = "c0ffee"
        self.name = "fake"
        self.stdout = stdout
        self.stderr = stderr
        self.status = status
        self.start_error = start_error
        self.wait_error = wait_error
        self.hang = hang
        self.killed = threading.Event()
        self.removed: dict[str, Any] | None = None

    def start(self) -> None:
        if self.start_error is not None:
            raise self.start_error

    def logs(self, **kwargs: Any) -> Any:
        if kwargs.get("stream"):
            assert kwargs == {"stream": True, "follow": True, "stdout": False, "stderr": True}
            return self._stream()
        assert kwargs == {"stdout": True, "stderr": False}
        return self.stdout.encode()

    def _stream(self) -> Iterator[bytes]:
        data = self.stderr.encode()
        # Chunks that split lines, as the engine's frames do.
        for start in range(0, len(data), 7):
            yield data[start : start + 7]
        if self.hang:
            assert self.killed.wait(5), "the container was never killed"

    def wait(self, **kwargs: Any) -> dict[str, Any]:
        if self.wait_error is not None:
            raise self.wait_error
        return {"StatusCode": 137 if self.killed.is_set() else self.status}

    def kill(self) -> None:
        self.killed.set()

    def remove(self, **kwargs: Any) -> None:
        self.removed = kwargs


class FakeContainers:
    def __init__(self, container: FakeContainer, create_errors: list[Exception]) -> None:
        self.container = container
        self.create_errors = create_errors
        self.calls: list[dict[str, Any]] = []

    def create(self, image: str, command: Any = None, **kwargs: Any) -> FakeContainer:
        self.calls.append({"image": image, "command": command, **kwargs})
        if self.create_errors:
            raise self.create_errors.pop(0)
        self.container.name = kwargs["name"]
        return self.container


class FakeImages:
    def __init__(self, error: Exception | None) -> None:
        self.error = error
        self.pulls: list[tuple[str, dict[str, Any]]] = []

    def pull(self, repository: str, tag: str | None = None, **kwargs: Any) -> None:
        self.pulls.append((repository, kwargs))
        if self.error is not None:
            raise self.error


class FakeClient:
    def __init__(
        self,
        container: FakeContainer,
        *,
        create_errors: list[Exception] | None = None,
        pull_error: Exception | None = None,
    ) -> None:
        self.containers = FakeContainers(container, list(create_errors or []))
        self.images = FakeImages(pull_error)


@pytest.fixture
def wheelhouse(tmp_path: Path) -> Path:
    """A collected wheelhouse as collect leaves it: a symlink to a versioned directory."""
    real = tmp_path / f".{TARGET.id}-20250101T000000Z-0badf00d"
    real.mkdir()
    (real / "requirements.txt").write_text("six==1.16.0 --hash=sha256:" + "a" * 64 + "\n")
    (real / "manifest.json").write_text(json.dumps({"format": 1, "wheels": [], "missing": []}))
    link = tmp_path / TARGET.id
    link.symlink_to(real.name)
    return link


def run_verify(wheelhouse: Path, client: FakeClient, **kwargs: Any) -> VerifyReport:
    return verify_wheelhouse(wheelhouse, TCFG, docker_client=client, **kwargs)


# --- the container -------------------------------------------------------------------------------


def test_the_container_is_offline_read_only_for_the_targets_platform(wheelhouse: Path) -> None:
    client = FakeClient(FakeContainer(stdout=lines(VENV_OK, install_step(), SIX_OK)))

    report = run_verify(wheelhouse, client, import_timeout=42)

    (call,) = client.containers.calls
    assert call["image"] == IMAGE
    assert call["platform"] == "linux/arm64"
    assert call["network_mode"] == "none"
    assert call["volumes"] == {
        str(wheelhouse.resolve()): {"bind": "/wheelhouse", "mode": "ro"},
    }
    assert call["entrypoint"] == ["python3"]
    assert call["command"] == ["-c", container_script(), "/wheelhouse", "/tmp/v", "42", "", ""]
    assert call["labels"]["org.wheelhouse.target"] == TARGET.id
    assert call["labels"]["org.wheelhouse.wheelhouse"] == str(wheelhouse.resolve())
    assert call["name"].startswith("wheelhouse-verify-")
    assert client.containers.container.removed == {"force": True, "v": True}
    assert report.ok
    assert report.container is None


def test_the_container_is_removed_when_the_engine_fails_mid_run(wheelhouse: Path) -> None:
    container = FakeContainer(stdout="", wait_error=docker.errors.APIError("engine went away"))
    client = FakeClient(container)

    with pytest.raises(EngineError, match=r"lost container wheelhouse-verify-.*engine went away"):
        run_verify(wheelhouse, client)

    assert container.removed == {"force": True, "v": True}


def test_the_container_is_removed_when_its_command_cannot_start(wheelhouse: Path) -> None:
    error = docker.errors.APIError(
        "start failed",
        explanation='exec: "python3": executable file not found in $PATH: unknown',
    )
    container = FakeContainer(stdout="", start_error=error)

    report = run_verify(wheelhouse, FakeClient(container))

    assert container.removed == {"force": True, "v": True}
    assert not report.ok
    assert report.error == (
        "the runtime image could not start the verify script: "
        'exec: "python3": executable file not found in $PATH: unknown'
    )
    assert report.hint == "set targets[].python in wheelhouse.yaml to the image's Python command"


def test_the_container_is_removed_when_verify_fails(wheelhouse: Path) -> None:
    broken = {"name": "six", "version": "1.16.0", "installed": True, "imports": {"six": "E: x"}}
    container = FakeContainer(stdout=lines(VENV_OK, install_step(), broken), status=0)

    report = run_verify(wheelhouse, FakeClient(container))

    assert not report.ok
    assert container.removed is not None


def test_keep_leaves_the_container_for_debugging(wheelhouse: Path) -> None:
    container = FakeContainer(stdout=lines(VENV_OK, install_step(), SIX_OK))
    said: list[str] = []

    report = run_verify(wheelhouse, FakeClient(container), keep=True, progress=said.append)

    assert container.removed is None
    assert report.container == container.name
    assert f"kept container {container.name} (remove it with `docker rm {container.name}`)" in said


def test_progress_gets_the_scripts_stderr_line_by_line(wheelhouse: Path) -> None:
    stderr = "+ python3 -m venv /tmp/v\nProcessing /wheelhouse/six.whl\n+ import six\n"
    container = FakeContainer(stdout=lines(VENV_OK, install_step(), SIX_OK), stderr=stderr)
    said: list[str] = []

    run_verify(wheelhouse, FakeClient(container), progress=said.append)

    assert said[-3:] == [
        "+ python3 -m venv /tmp/v",
        "Processing /wheelhouse/six.whl",
        "+ import six",
    ]


def test_a_missing_image_is_pulled_for_the_platform(wheelhouse: Path) -> None:
    client = FakeClient(
        FakeContainer(stdout=lines(VENV_OK, install_step(), SIX_OK)),
        create_errors=[docker.errors.ImageNotFound("no such image")],
    )

    report = run_verify(wheelhouse, client)

    assert client.images.pulls == [(IMAGE, {"platform": "linux/arm64"})]
    assert len(client.containers.calls) == 2
    assert report.ok


def test_an_image_that_cannot_be_pulled_is_an_engine_error(wheelhouse: Path) -> None:
    client = FakeClient(
        FakeContainer(stdout=""),
        create_errors=[docker.errors.ImageNotFound("no such image")],
        pull_error=docker.errors.APIError("pull", explanation="registry unreachable"),
    )

    with pytest.raises(EngineError) as caught:
        run_verify(wheelhouse, client)

    assert caught.value.message == (
        f"runtime image {IMAGE} for linux/arm64 is neither local nor pullable: registry unreachable"
    )


def test_an_engine_that_refuses_to_create_is_an_engine_error(wheelhouse: Path) -> None:
    client = FakeClient(
        FakeContainer(stdout=""),
        create_errors=[docker.errors.APIError("create", explanation="no space left on device")],
    )

    with pytest.raises(EngineError, match=r"cannot create a container of .*no space left"):
        run_verify(wheelhouse, client)


def test_an_image_that_cannot_run_for_lack_of_qemu_is_an_engine_error(wheelhouse: Path) -> None:
    container = FakeContainer(
        stdout="", stderr="exec /usr/bin/python3: exec format error\n", status=255
    )

    with pytest.raises(EngineError) as caught:
        run_verify(wheelhouse, FakeClient(container))

    assert "exec format error" in caught.value.message
    assert caught.value.hint is not None
    assert "QEMU" in caught.value.hint
    assert container.removed is not None


def test_a_hung_container_is_killed_after_the_timeout(wheelhouse: Path) -> None:
    container = FakeContainer(stdout="", stderr="+ import slow\n", hang=True)

    report = run_verify(wheelhouse, FakeClient(container), timeout=0.05)

    assert container.killed.is_set()
    assert container.removed is not None
    assert not report.ok
    assert report.error == "verify timed out (the container was killed)"


def test_no_wheelhouse_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="no wheelhouse at"):
        run_verify(tmp_path / "nothing", FakeClient(FakeContainer(stdout="")))


def test_packages_whose_build_failed_are_reported_missing(wheelhouse: Path) -> None:
    manifest = {"missing": [{"name": "psycopg2", "version": "2.9.10", "reason": "pg_config"}]}
    (wheelhouse / "manifest.json").write_text(json.dumps(manifest))
    container = FakeContainer(stdout=lines(VENV_OK, install_step(), SIX_OK))

    report = run_verify(wheelhouse, FakeClient(container))

    assert not report.ok
    assert report.packages[0] == PackageVerify(
        name="psycopg2",
        version="2.9.10",
        installed=False,
        error="its build failed: pg_config",
        hints=(MISSING_WHEEL,),
    )


# --- parsing the script's output ---------------------------------------------------------------


def parse(stdout: str, **kwargs: Any) -> VerifyReport:
    return parse_verify_output(stdout, target=TARGET, image=IMAGE, **kwargs)


def test_an_all_good_run() -> None:
    markup = {
        "name": "MarkupSafe",
        "version": "2.1.5",
        "installed": True,
        "imports": {"markupsafe": "ok"},
    }
    report = parse("noise that is not json\n" + lines(VENV_OK, install_step(), markup, SIX_OK))

    assert report.ok
    assert report.install_ok
    assert report.install_log_tail == "Successfully installed six-1.16.0"
    assert [(p.name, p.version, p.ok) for p in report.packages] == [
        ("markupsafe", "2.1.5", True),
        ("six", "1.16.0", True),
    ]


def test_an_import_that_needs_a_missing_system_library() -> None:
    row = {
        "name": "psycopg2",
        "version": "2.9.10",
        "installed": True,
        "imports": {
            "psycopg2": "ImportError: libpq.so.5: cannot open shared object file: "
            "No such file or directory"
        },
    }

    report = parse(lines(VENV_OK, install_step(), row))

    assert not report.ok
    (package,) = report.failed
    assert package.installed
    assert package.hints == (LIBPQ,)


def test_one_crashing_module_does_not_hide_the_others() -> None:
    row = {
        "name": "demo",
        "version": "1.0",
        "installed": True,
        "imports": {"demo": "ok", "_demo_speedups": "Crashed: killed by SIGSEGV"},
    }

    report = parse(lines(VENV_OK, install_step(), row))

    (package,) = report.packages
    assert package.failed_imports == {"_demo_speedups": "Crashed: killed by SIGSEGV"}
    assert package.imports["demo"] == "ok"


def test_a_missing_dependency_names_the_package_and_the_fix() -> None:
    log = (
        "Processing /wheelhouse/python_dateutil-2.9.0.post0-py2.py3-none-any.whl\n"
        "ERROR: Could not find a version that satisfies the requirement six>=1.5 "
        "(from python-dateutil) (from versions: none)\n"
        "ERROR: No matching distribution found for six>=1.5"
    )
    dateutil = {"name": "python-dateutil", "version": "2.9.0.post0", "installed": False}

    report = parse(lines(VENV_OK, install_step(ok=False, log=log), dateutil | {"imports": {}}))

    assert not report.ok
    assert report.error is None
    by_name = {p.name: p for p in report.packages}
    assert by_name["six"] == PackageVerify(
        name="six",
        version=None,
        installed=False,
        error="ERROR: Could not find a version that satisfies the requirement six>=1.5 "
        "(from python-dateutil) (from versions: none)",
        hints=(MISSING_WHEEL,),
    )
    assert by_name["python-dateutil"].error == "not installed: pip stopped at six"


def test_a_hash_mismatch_names_the_package() -> None:
    log = (
        "ERROR: THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE. ...\n"
        "    six==1.16.0 from file:///wheelhouse/six-1.16.0-py2.py3-none-any.whl:\n"
        "        Expected sha256 aaaa\n"
        "             Got        bbbb\n"
    )
    culprits = install_culprits(log)

    assert list(culprits) == ["six"]
    assert culprits["six"].startswith("hash mismatch: six==1.16.0 from file:///wheelhouse/")
    assert likely_fix(log) == (
        "a wheel changed after the wheelhouse was collected: run `wheelhouse build` again "
        "(it rewrites the wheelhouse)"
    )


def test_a_wheel_for_another_platform_names_the_package() -> None:
    log = (
        "ERROR: MarkupSafe-2.1.5-cp311-cp311-musllinux_1_1_aarch64.whl is not a supported "
        "wheel on this platform."
    )
    assert list(install_culprits(log)) == ["markupsafe"]


def test_a_failed_install_without_a_culprit_is_a_global_error() -> None:
    report = parse(lines(VENV_OK, install_step(ok=False, log="ERROR: something odd")))

    assert not report.ok
    assert report.error == "pip install failed"


def test_a_venv_that_cannot_be_created() -> None:
    venv = {
        "step": "venv",
        "ok": False,
        "returncode": 1,
        "log_tail": "The virtual environment was not created successfully because ensurepip "
        "is not available.",
    }

    report = parse(lines(venv))

    assert not report.ok
    assert report.error == "could not create a venv in the runtime image"
    assert report.hint is not None
    assert "python3-venv" in report.hint


def test_a_script_that_died_early_keeps_the_stderr_tail() -> None:
    report = parse(lines(VENV_OK), stderr_tail="Segmentation fault", exit_code=139)

    assert not report.ok
    assert report.error == "the verify script did not finish (exit code 139)"
    assert report.install_log_tail == "Segmentation fault"


def test_raise_for_failure_names_every_failure_and_its_fix() -> None:
    row = {
        "name": "psycopg2",
        "version": "2.9.10",
        "installed": True,
        "imports": {"psycopg2": "ImportError: libpq.so.5: cannot open shared object file"},
    }
    report = parse(lines(VENV_OK, install_step(), row, SIX_OK))

    with pytest.raises(VerifyFailedError) as caught:
        report.raise_for_failure()

    assert caught.value.message == (
        f"{TARGET.id}: the wheelhouse does not work in {IMAGE}: psycopg2: import psycopg2: "
        "ImportError: libpq.so.5: cannot open shared object file"
    )
    assert caught.value.hint == LIBPQ


def test_raise_for_failure_is_silent_when_ok() -> None:
    parse(lines(VENV_OK, install_step(), SIX_OK)).raise_for_failure()


# --- likely fixes --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "fix"),
    [
        ("ImportError: libpq.so.5: cannot open shared object file: No such file", LIBPQ),
        (
            "ImportError: libfoo.so.3: cannot open shared object file: No such file",
            "the runtime image lacks libfoo.so.3: install it in the runtime stage (apt: "
            "`apt-file search libfoo.so.3` / apk: `apk search so:libfoo.so.3`) or let "
            "auditwheel vendor it",
        ),
        ("ERROR: No matching distribution found for six", MISSING_WHEEL),
        ("demo requires building from source, but --only-binary :all: was given", MISSING_WHEEL),
        (
            "ImportError: /x/_cffi.so: undefined symbol: PyFoo",
            "built against a newer libc/toolchain than the runtime image: build in a base "
            "image no newer than the runtime image (targets[].base_image), or run a newer "
            "runtime image",
        ),
        (
            "ImportError: /lib/aarch64-linux-gnu/libc.so.6: version `GLIBC_2.38' not found",
            "built against a newer libc/toolchain than the runtime image: build in a base "
            "image no newer than the runtime image (targets[].base_image), or run a newer "
            "runtime image",
        ),
        (
            "ImportError: Error relocating /x.so: symbol not found",
            "built against a newer libc/toolchain than the runtime image: build in a base "
            "image no newer than the runtime image (targets[].base_image), or run a newer "
            "runtime image",
        ),
        (
            "ModuleNotFoundError: No module named 'attr'",
            "the package imports attr, which is not installed: add the distribution that "
            "provides it (or the extra it belongs to) to your requirements",
        ),
        (
            "/tmp/v/bin/uwsgi: symbol lookup error: /tmp/v/bin/uwsgi: undefined symbol: "
            "PyExc_StopIteration",
            "uwsgi is a program that links libpython, which auditwheel repair removed from "
            "the wheel: give the package `system_libraries: [libpython3.*.so.1.0]` and the "
            "runtime package of libpython (wheelhouse.yaml packages.<name>), as the knowledge "
            "file does for uwsgi, and build it again",
        ),
        ("ValueError: something else entirely", None),
    ],
)
def test_likely_fix(message: str, fix: str | None) -> None:
    assert likely_fix(message) == fix


# --- the script that runs in the container -------------------------------------------------------


def test_the_script_is_python_3_8_syntax() -> None:
    script = container_script()

    ast.parse(script, feature_version=(3, 8))
    assert script.rstrip().endswith("sys.exit(_container_main(sys.argv[1:]))")


@pytest.mark.parametrize(
    ("record", "modules"),
    [
        (["six.py", "six-1.16.0.dist-info/RECORD", "six-1.16.0.dist-info/METADATA"], ["six"]),
        (
            [
                "markupsafe/__init__.py",
                "markupsafe/_speedups.cpython-311-aarch64-linux-gnu.so",
                "markupsafe/__pycache__/__init__.cpython-311.pyc",
            ],
            ["markupsafe"],
        ),
        (
            [
                "_cffi_backend.cpython-311-aarch64-linux-gnu.so",
                "cffi/__init__.py",
                "cffi.libs/x.so",
            ],
            ["_cffi_backend", "cffi"],
        ),
        (["google/protobuf/__init__.py", "google/protobuf/message.py"], ["google.protobuf"]),
        (
            [
                "distutils-precedence.pth",
                "_distutils_hack/__init__.py",
                "setuptools/__init__.py",
                "../../bin/tool",
                "demo-1.0.data/scripts/x",
                "",
            ],
            ["_distutils_hack", "setuptools"],
        ),
    ],
)
def test_top_level_modules_come_from_record(record: list[str], modules: list[str]) -> None:
    assert probe._record_modules(record) == modules


@pytest.mark.parametrize("image_pip", [True, False], ids=["image-pip", "ensurepip"])
def test_the_script_reports_one_json_line_per_distribution(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    image_pip: bool,
) -> None:
    wheelhouse = tmp_path / "wheelhouse"
    wheelhouse.mkdir()
    (wheelhouse / "requirements.txt").write_text(
        "# header\nsix==1.16.0 --hash=sha256:aa\nDemo_Pkg==1.0 --hash=sha256:bb\n"
    )
    venv = tmp_path / "v"
    site = venv / "lib" / "python3.11" / "site-packages"
    _fake_dist(site, "six", "1.16.0", ["six.py"])
    ran: list[list[str]] = []

    def run_logged(argv: list[str]) -> tuple[int, str]:
        ran.append(argv)
        if "install" in argv:
            _fake_dist(site, "bonus", "3.0", ["bonus/__init__.py"])
        return 0, "done\n"

    pip = ["python3", "-m", "pip", "--python", f"{venv}/bin/python"] if image_pip else None
    monkeypatch.setattr(probe, "_pip_for", lambda venv: pip)
    monkeypatch.setattr(probe, "_run_logged", run_logged)
    monkeypatch.setattr(
        probe,
        "_import_in_fresh_process",
        lambda python, module, timeout: "ok" if module == "six" else "ImportError: nope",
    )

    assert probe._container_main([str(wheelhouse), str(venv), "30"]) == 0

    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert records == [
        {"step": "venv", "ok": True, "returncode": 0, "log_tail": "done"},
        {"step": "install", "ok": True, "returncode": 0, "log_tail": "done"},
        {
            "name": "bonus",
            "version": "3.0",
            "installed": True,
            "imports": {"bonus": "ImportError: nope"},
        },
        {"name": "demo-pkg", "version": "1.0", "installed": False, "imports": {}},
        {"name": "six", "version": "1.16.0", "installed": True, "imports": {"six": "ok"}},
    ]
    if pip is not None:
        assert ran[0][-2:] == ["--without-pip", str(venv)]
        assert ran[1][:6] == [*pip, "install"]
    else:
        assert ran[0][-2:] == ["venv", str(venv)]
        assert ran[1][:2] == [f"{venv}/bin/pip", "install"]
    install = ran[1][ran[1].index("install") :]
    assert install[:4] == ["install", "--no-index", "--only-binary", ":all:"]
    assert install[4:9] == [
        "--find-links",
        str(wheelhouse),
        "--require-hashes",
        "-r",
        f"{wheelhouse}/requirements.txt",
    ]


@pytest.mark.parametrize(
    ("version", "uses_it"),
    [("23.0.1", True), ("22.3", True), ("22.2.2", False), (None, False)],
)
def test_the_images_own_pip_is_used_when_it_can_target_a_venv(
    monkeypatch: pytest.MonkeyPatch, version: str | None, uses_it: bool
) -> None:
    def pip_version(name: str) -> str:
        assert name == "pip"
        if version is None:
            raise importlib.metadata.PackageNotFoundError(name)
        return version

    monkeypatch.setattr(importlib.metadata, "version", pip_version)

    command = probe._pip_for("/tmp/v")

    assert (command is not None) == uses_it
    if command is not None:
        assert command[1:] == ["-m", "pip", "--python", "/tmp/v/bin/python"]


def _fake_dist(site: Path, name: str, version: str, files: list[str]) -> None:
    info = site / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "RECORD").write_text("".join(f"{f},,\n" for f in files))


def test_skipped_imports_are_passed_to_the_container_and_count_as_ok(wheelhouse: Path) -> None:
    gpio = {"name": "rpi-gpio", "version": "0.7.1", "installed": True, "imports": {}}
    client = FakeClient(
        FakeContainer(stdout=lines(VENV_OK, install_step(), {**gpio, "import_skipped": True}))
    )

    report = run_verify(wheelhouse, client, skip_imports=["RPi.GPIO"])

    (call,) = client.containers.calls
    assert call["command"][-2] == "rpi-gpio"
    (package,) = report.packages
    assert package.import_skipped
    assert package.ok
    assert report.ok


# --- runtime packages: installed before the no-network install ------------------------------


class FakeImageBuilder:
    def __init__(self, returncode: int = 0) -> None:
        self.returncode = returncode
        self.dockerfiles: list[str] = []
        self.names: list[str | None] = []

    def buildx_build(self, request: BuildxRequest, on_line: Any) -> BuildxResult:
        self.dockerfiles.append(request.dockerfile.read_text())
        self.names.append(request.image_name)
        tail = () if self.returncode == 0 else ("E: Unable to locate package libasound2",)
        return BuildxResult(returncode=self.returncode, seconds=0.5, tail=tail)


def needing_alsa(wheelhouse: Path) -> Path:
    manifest = {
        "format": 2,
        "wheels": [],
        "missing": [],
        "system_libraries": ["libasound.so.2"],
        "runtime_packages": ["libasound2"],
    }
    (wheelhouse / "manifest.json").write_text(json.dumps(manifest))
    return wheelhouse


def test_the_container_runs_in_the_runtime_image_with_its_packages(wheelhouse: Path) -> None:
    client = FakeClient(FakeContainer(stdout=lines(VENV_OK, install_step(), SIX_OK)))
    builder = FakeImageBuilder()

    report = run_verify(needing_alsa(wheelhouse), client, images=builder)

    (dockerfile,) = builder.dockerfiles
    assert dockerfile.startswith(f"FROM {IMAGE}\n")
    assert "--no-install-recommends \\\n      libasound2 \\\n" in dockerfile
    (call,) = client.containers.calls
    assert call["image"] == builder.names[0]
    assert call["network_mode"] == "none"  # the install had the network, the verify has not
    assert report.ok
    assert report.image == IMAGE


def test_a_failed_package_install_fails_verify_with_the_log(wheelhouse: Path) -> None:
    client = FakeClient(FakeContainer(stdout=""))

    report = run_verify(needing_alsa(wheelhouse), client, images=FakeImageBuilder(returncode=100))

    assert not report.ok
    assert report.error == (
        f"could not install the runtime packages libasound2 in {IMAGE} (exit code 100)"
    )
    assert "Unable to locate package libasound2" in report.install_log_tail
    assert report.hint is not None and "runtime_apt" in report.hint
    assert client.containers.calls == []  # no container: nothing to verify against
    with pytest.raises(VerifyFailedError, match="could not install the runtime packages"):
        report.raise_for_failure()


def test_a_wheelhouse_that_needs_packages_cannot_be_verified_without_an_engine(
    wheelhouse: Path,
) -> None:
    client = FakeClient(FakeContainer(stdout=""))
    with pytest.raises(EngineError, match="verify must install libasound2 first"):
        run_verify(needing_alsa(wheelhouse), client)


def test_a_target_without_a_package_manager_verifies_the_image_as_it_is(
    wheelhouse: Path,
) -> None:
    client = FakeClient(FakeContainer(stdout=lines(VENV_OK, install_step(), SIX_OK)))
    none = TargetConfig(
        target=TARGET, base_image=IMAGE, runtime_image=IMAGE, package_manager="none"
    )
    builder = FakeImageBuilder()
    report = verify_wheelhouse(needing_alsa(wheelhouse), none, docker_client=client, images=builder)
    assert builder.dockerfiles == []
    assert client.containers.calls[0]["image"] == IMAGE
    assert report.ok
