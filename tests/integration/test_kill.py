"""SIGKILL a real ``wheelhouse build`` part-way: the previous wheelhouse survives, intact.

The engine scenario (``killed_build``, real engine and PyPI): a project whose wheelhouse
holds six alone gains docopt, an sdist that must be built (amd64, native, fresh
wheelhouse cache, so nothing is cached). ``wheelhouse build`` runs as a subprocess in a
process group of its own, and the whole group gets SIGKILL (a terminal's Ctrl-C and a CI
runner's cancel also signal the whole group; SIGKILL is the one nothing can clean up after):

1. while BuildKit runs the docopt stage (the "docopt: building" line);
2. a few random milliseconds after docopt's wheel reached the build cache (the "docopt:
   built" line), when the run collects the new wheelhouse: the kill lands just before,
   inside or just after ``collect_wheelhouse``.

After each kill the published ``<id>`` is a complete wheelhouse (after the first one the
very same files; after the second the previous one or the complete new one, never a
mix), host pip installs it offline with ``--require-hashes``, no process of the group is
left, and BuildKit runs no build step of it. A third run takes docopt from the build
cache, publishes, and removes what the killed runs left.

`docker buildx build` runs in wheelhouse's process group (engine.py does not start a new
session), so a group kill reaches it and the buildx client's death makes BuildKit cancel
the build. Killing the wheelhouse process ALONE leaves buildx running until its next line
of output hits the closed pipe (SIGPIPE): signal the group.

Collect takes milliseconds, so the second kill lands inside it only some of the time;
``test_sigkill_inside_collect_...`` kills a real process that does nothing but collect,
at random moments, and checks the same invariant after every kill.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from packaging.utils import canonicalize_name

from orchestrator.model import Artifact, TargetBuild
from orchestrator.targets import Target
from orchestrator.wheelhouse.collect import collect_wheelhouse

TARGET_ID = "cp311-manylinux_2_36_x86_64"
PLATFORM_TAG = "manylinux_2_36_x86_64"
WHEELHOUSE_CLI = Path(sys.executable).with_name("wheelhouse")
#: libffi-dev too: the same toolchain as test_build.py's amd64 target, so BuildKit's
#: cached toolchain layer is shared instead of installed again.
CONFIG = f"""\
requirements: requirements.txt
output: out
cache_dir: cache
targets:
  - id: {TARGET_ID}
    base_image: wheelhouse-test/python:3.11-bookworm-amd64
    system_packages: [python3-dev, libffi-dev]
"""
BEFORE = "six==1.17.0\n"
AFTER = "docopt==0.6.2\nsix==1.17.0\n"
#: Seconds a killed run's processes may take to go away (SIGKILL: at once), and BuildKit's
#: build steps for it (cancelled when the buildx client goes).
PROCESSES_GONE_WITHIN = 5.0
STEPS_GONE_WITHIN = 60.0
#: Seconds after "docopt: built" within which the second kill lands (collect takes a few ms).
COLLECT_WINDOW = 0.05
#: Seconds any single `wheelhouse build` of this scenario may take.
RUN_LIMIT = 1500.0


# --- what a wheelhouse must be, whenever anyone looks -------------------------------------------


def sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def complete_wheelhouse(link: Path) -> dict[str, str]:
    """Assert ``link`` is a published, self-consistent wheelhouse; return {name: version}.

    The symlink points at a versioned sibling directory; every wheel the manifest lists is
    there with its sha256 and nothing else is; requirements.txt pins exactly the manifest;
    the PEP 503 index lists every project.
    """
    assert link.is_symlink(), f"{link} is not the published symlink"
    real = link.parent / link.readlink()
    assert real.parent == link.parent and real.is_dir(), real
    manifest = json.loads((link / "manifest.json").read_text("utf-8"))
    wheels = manifest["wheels"]
    assert {w["file"] for w in wheels} == {p.name for p in link.glob("*.whl")}
    for wheel in wheels:
        assert sha256(link / wheel["file"]) == wheel["sha256"], wheel["file"]
    pins = {
        line.split()[0]: {h.removeprefix("--hash=sha256:") for h in line.split()[1:]}
        for line in (link / "requirements.txt").read_text("utf-8").splitlines()
        if line and not line.startswith("#")
    }
    assert pins == {f"{w['name']}=={w['version']}": {w["sha256"]} for w in wheels}
    index = (link / "simple" / "index.html").read_text("utf-8")
    for wheel in wheels:
        assert f'href="{wheel["name"]}/"' in index, wheel["name"]
        assert (link / "simple" / wheel["name"] / "index.html").is_file(), wheel["name"]
    return {w["name"]: w["version"] for w in wheels}


def files_of(link: Path) -> dict[str, str]:
    """Every file of the wheelhouse ``link`` points to, with its sha256."""
    root = link.resolve()
    return {str(p.relative_to(root)): sha256(p) for p in sorted(root.rglob("*")) if p.is_file()}


def leftovers(output: Path, target_id: str) -> list[str]:
    """What killed runs leave beside the wheelhouse: temporary and unpublished trees."""
    current = (output / target_id).readlink().name
    keep = {target_id, f".{target_id}.lock", current}
    return sorted(p.name for p in output.iterdir() if p.name not in keep)


def host_pip_install(wheelhouse: Path, into: Path) -> subprocess.CompletedProcess[str]:
    """pip on the host, offline, hash-checked: what a deploy does with the wheelhouse."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env |= {"PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    return subprocess.run(
        [
            *(sys.executable, "-m", "pip", "install", "--no-index", "--no-cache-dir"),
            *("--find-links", str(wheelhouse), "--require-hashes"),
            *("-r", str(wheelhouse / "requirements.txt"), "--target", str(into)),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


# --- processes ---------------------------------------------------------------------------------


def _proc_entries() -> Iterator[tuple[str, str, str]]:
    """(state, process group, command line) of every process this machine shows."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue  # gone meanwhile
        fields = stat[stat.rindex(")") + 2 :].split()
        yield fields[0], fields[2], cmdline


def live_processes(pgid: int, mentioning: str) -> list[str]:
    """Processes that still run in group ``pgid`` or with ``mentioning`` on their command
    line (one that left the group would be found so). Zombies only wait for a reaper."""
    return [
        cmd
        for state, group, cmd in _proc_entries()
        if state != "Z" and (group == str(pgid) or mentioning in cmd)
    ]


def buildkit_steps(package: str) -> list[str]:
    """BuildKit's RUN processes building ``package`` for this target (on this machine).

    Empty, not proof, when the engine runs elsewhere (Docker-in-Docker, a remote builder).
    """
    needle = re.compile(rf"build-wheel\.sh {re.escape(package)} .*{PLATFORM_TAG}")
    return [cmd for state, _group, cmd in _proc_entries() if state != "Z" and needle.search(cmd)]


def wait_until_gone(probe: Callable[[], list[str]], limit: float) -> list[str]:
    """Poll ``probe`` until it finds nothing or ``limit`` seconds pass; what it found last."""
    deadline = time.monotonic() + limit
    while (found := probe()) and time.monotonic() < deadline:
        time.sleep(0.25)
    return found


# --- the engine scenario -----------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Project:
    root: Path

    @property
    def output(self) -> Path:
        return self.root / "out"

    @property
    def wheelhouse(self) -> Path:
        return self.output / TARGET_ID

    def env(self) -> dict[str, str]:
        # TMPDIR keeps a killed run's buildx context (a TemporaryDirectory SIGKILL never
        # removes) inside the test's tmp dir.
        drop = {"WHEELHOUSE_CACHE_DIR", "GITHUB_STEP_SUMMARY"}
        env = {k: v for k, v in os.environ.items() if k not in drop}
        return env | {"TMPDIR": str(self.root / "tmp")}

    def argv(self, *extra: str) -> list[str]:
        return [str(WHEELHOUSE_CLI), "build", "-c", str(self.root / "wheelhouse.yaml"), *extra]

    def build(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv("--json"),
            capture_output=True,
            text=True,
            env=self.env(),
            check=False,
            timeout=RUN_LIMIT,
        )


@dataclass(frozen=True, kw_only=True)
class Kill:
    """One ``wheelhouse build`` killed (with its whole process group) at a line of its output."""

    at: str
    delay: float
    stderr: str
    returncode: int
    #: The killed run's processes still running ``PROCESSES_GONE_WITHIN`` seconds after
    #: the kill, and BuildKit steps of its build ``STEPS_GONE_WITHIN`` seconds after it.
    processes_left: list[str]
    steps_left: list[str]
    #: The published wheelhouse right after the kill: {name: version} and every file.
    published: dict[str, str]
    files: dict[str, str]
    leftovers: list[str]
    host_pip: subprocess.CompletedProcess[str]


def kill_at(project: Project, marker: str, scratch: Path, *, delay: float = 0.0) -> Kill:
    """Run ``wheelhouse build``; SIGKILL its process group ``delay`` seconds after it prints
    ``marker``."""
    process = subprocess.Popen(
        project.argv(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=project.env(),
        start_new_session=True,  # its own group: what a terminal or a CI runner kills
    )
    pgid = process.pid
    watchdog = threading.Timer(RUN_LIMIT, os.killpg, (pgid, signal.SIGKILL))
    watchdog.start()
    lines: list[str] = []
    try:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            if marker in line:
                time.sleep(delay)
                os.killpg(pgid, signal.SIGKILL)
                break
        returncode = process.wait()
    finally:
        watchdog.cancel()
    stderr = "".join(lines)
    assert marker in stderr, f"the run ended (exit {returncode}) before {marker!r}:\n{stderr}"
    assert returncode == -signal.SIGKILL, stderr
    # The run's TMPDIR is on buildx's command line (its context and output directory).
    mark = str(project.root / "tmp")
    processes_left = wait_until_gone(lambda: live_processes(pgid, mark), PROCESSES_GONE_WITHIN)
    steps_left = wait_until_gone(lambda: buildkit_steps("docopt"), STEPS_GONE_WITHIN)
    return Kill(
        at=marker,
        delay=delay,
        stderr=stderr,
        returncode=returncode,
        processes_left=processes_left,
        steps_left=steps_left,
        published=complete_wheelhouse(project.wheelhouse),
        files=files_of(project.wheelhouse),
        leftovers=leftovers(project.output, TARGET_ID),
        host_pip=host_pip_install(project.wheelhouse, scratch),
    )


@dataclass(frozen=True, kw_only=True)
class Scenario:
    previous: dict[str, str]
    previous_files: dict[str, str]
    in_buildx: Kill
    in_collect: Kill
    rerun: subprocess.CompletedProcess[str]
    final: dict[str, str]
    final_leftovers: list[str]
    final_host_pip: subprocess.CompletedProcess[str]

    @property
    def rerun_report(self) -> dict[str, Any]:
        report: dict[str, Any] = json.loads(self.rerun.stdout)
        return report


@pytest.fixture(scope="module")
def killed_build(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    root = tmp_path_factory.mktemp("kill")
    (root / "tmp").mkdir()
    (root / "wheelhouse.yaml").write_text(CONFIG, "utf-8")
    (root / "requirements.txt").write_text(BEFORE, "utf-8")
    project = Project(root=root)
    first = project.build()
    assert first.returncode == 0, first.stderr
    previous = complete_wheelhouse(project.wheelhouse)
    previous_files = files_of(project.wheelhouse)

    (root / "requirements.txt").write_text(AFTER, "utf-8")
    in_buildx = kill_at(project, "docopt: building", root / "pip-1")
    delay = random.uniform(0, COLLECT_WINDOW)
    in_collect = kill_at(project, "docopt: built ", root / "pip-2", delay=delay)
    rerun = project.build()
    assert rerun.returncode == 0, rerun.stderr
    return Scenario(
        previous=previous,
        previous_files=previous_files,
        in_buildx=in_buildx,
        in_collect=in_collect,
        rerun=rerun,
        final=complete_wheelhouse(project.wheelhouse),
        final_leftovers=leftovers(project.output, TARGET_ID),
        final_host_pip=host_pip_install(project.wheelhouse, root / "pip-3"),
    )


@pytest.mark.engine
@pytest.mark.network
def test_the_previous_wheelhouse_is_complete_before_the_kills(killed_build: Scenario) -> None:
    assert killed_build.previous == {"six": "1.17.0"}


@pytest.mark.engine
@pytest.mark.network
def test_a_kill_during_the_buildx_run_leaves_the_previous_wheelhouse_untouched(
    killed_build: Scenario,
) -> None:
    kill = killed_build.in_buildx

    assert "docker buildx build: docopt" in kill.stderr
    assert kill.published == killed_build.previous
    assert kill.files == killed_build.previous_files
    assert kill.leftovers == []  # the run never reached collect
    assert kill.host_pip.returncode == 0, kill.host_pip.stderr


@pytest.mark.engine
@pytest.mark.network
def test_a_kill_during_collect_leaves_a_complete_wheelhouse(killed_build: Scenario) -> None:
    kill = killed_build.in_collect

    # Old or new depends on where the kill landed; a mix of both fails complete_wheelhouse.
    assert kill.published in ({"six": "1.17.0"}, {"docopt": "0.6.2", "six": "1.17.0"})
    if kill.published == killed_build.previous:
        assert kill.files == killed_build.previous_files
    assert kill.host_pip.returncode == 0, kill.host_pip.stderr


@pytest.mark.engine
@pytest.mark.network
def test_a_killed_run_leaves_no_process_and_no_buildkit_step_behind(
    killed_build: Scenario,
) -> None:
    for kill in (killed_build.in_buildx, killed_build.in_collect):
        assert kill.processes_left == [], kill.at
        assert kill.steps_left == [], kill.at


@pytest.mark.engine
@pytest.mark.network
def test_the_next_run_publishes_the_new_wheelhouse_and_cleans_up(
    killed_build: Scenario,
) -> None:
    report = killed_build.rerun_report
    (target,) = report["targets"]

    assert report["ok"] is True
    assert report["unpublished"] == {}
    assert target["built"] == []  # the second kill came after docopt reached the build cache
    assert target["cached"] == 1
    assert "nothing to build: 1 wheel(s) from the build cache" in killed_build.rerun.stderr
    assert killed_build.final == {"docopt": "0.6.2", "six": "1.17.0"}
    assert killed_build.final_leftovers == []
    assert killed_build.final_host_pip.returncode == 0, killed_build.final_host_pip.stderr


# --- SIGKILL inside collect_wheelhouse, many times ----------------------------------------------

#: Publishes the two builds of a JSON file alternately, forever: argv = builds.json, output.
COLLECT_FOREVER = """
import json, sys, time
from pathlib import Path
from orchestrator.wheelhouse.collect import collect_wheelhouse
from orchestrator.model import Artifact, TargetBuild
from orchestrator.targets import Target

data = json.loads(Path(sys.argv[1]).read_text())
target = Target.parse(data["target"])
builds = [
    TargetBuild(
        target=target,
        artifacts=tuple(Artifact(**a, path=Path(p), origin="pypi") for p, a in build.items()),
    )
    for build in data["builds"]
]
for i in range(10**9):
    start = time.monotonic()
    collect_wheelhouse(builds[i % 2], Path(sys.argv[2]))
    print("published", time.monotonic() - start, flush=True)
"""
PROJECTS = 24
ROUNDS = 6


def fake_builds(directory: Path, target: Target) -> tuple[TargetBuild, ...]:
    """Version 1.0 and 2.0 of ``PROJECTS`` projects (collect reads names and hashes only)."""
    directory.mkdir()
    builds = []
    for version in ("1.0", "2.0"):
        artifacts = []
        for i in range(PROJECTS):
            path = directory / f"proj{i}-{version}-py3-none-any.whl"
            path.write_bytes(f"proj{i} {version}".encode() * 100)
            name = canonicalize_name(f"proj{i}")
            artifacts.append(
                Artifact(name=name, version=version, path=path, sha256=sha256(path), origin="pypi")
            )
        builds.append(TargetBuild(target=target, artifacts=tuple(artifacts)))
    return tuple(builds)


def builds_json(builds: tuple[TargetBuild, ...]) -> Mapping[str, Any]:
    return {
        "target": builds[0].target.id,
        "builds": [
            {
                str(a.path): {"name": a.name, "version": a.version, "sha256": a.sha256}
                for a in b.artifacts
            }
            for b in builds
        ],
    }


def kill_while_collecting(spec: Path, output: Path, rng: random.Random) -> None:
    """Start a collect-forever process, let it publish once, SIGKILL it mid-collect."""
    child = subprocess.Popen(
        [sys.executable, "-c", COLLECT_FOREVER, str(spec), str(output)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        first = child.stdout.readline()
        assert first.startswith("published"), first
        time.sleep(rng.uniform(0, 2 * float(first.split()[1])))
    finally:
        child.kill()
        child.wait()


def test_sigkill_inside_collect_never_exposes_a_half_written_wheelhouse(tmp_path: Path) -> None:
    target = Target.parse(TARGET_ID)
    builds = fake_builds(tmp_path / "wheels", target)
    spec = tmp_path / "builds.json"
    spec.write_text(json.dumps(builds_json(builds)), "utf-8")
    output = tmp_path / "out"
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    left_behind = 0

    for round_ in range(ROUNDS):
        kill_while_collecting(spec, output, rng)
        published = complete_wheelhouse(output / TARGET_ID)
        assert len(published) == PROJECTS, (seed, round_)
        assert len(set(published.values())) == 1, (seed, round_, "two builds mixed")
        left_behind += bool(leftovers(output, TARGET_ID))

    # The kills did land mid-collect (else this test proves nothing) ...
    assert left_behind > 0, f"seed {seed}: no kill interrupted a collect"
    # ... and the next collect removes what they left.
    collect_wheelhouse(builds[0], output)
    assert complete_wheelhouse(output / TARGET_ID) == {f"proj{i}": "1.0" for i in range(PROJECTS)}
    assert leftovers(output, TARGET_ID) == []
