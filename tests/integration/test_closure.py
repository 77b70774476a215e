"""Each target's closure, against the real PyPI (and, for the build, the real engine).

redis 5.2.1 requires ``async-timeout>=4.0.3; python_full_version < "3.11.3"``: a
hash-pinned file holding redis alone is incomplete on Debian bookworm's Python 3.11.2,
and complete on 3.12. The plan tests run the real CLI in-process (no engine); the build
test learns 3.11.2 from the local bookworm arm64 image, adds async-timeout, publishes and
verifies the wheelhouse in a clean arm64 container (two pure wheels: no buildx build).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from orchestrator.cli import app as cli

pytestmark = pytest.mark.network

CP311 = "cp311-manylinux_2_36_aarch64"
CP312 = "cp312-manylinux_2_36_aarch64"
REDIS = (
    "redis==5.2.1 \\\n"
    "    --hash=sha256:ee7e1056b9aea0f04c6c2ed59452947f34c4940ee025f5dd83e6a6418b6989e4\n"
)
OLD_TIMEOUT = (
    "async-timeout==4.0.2 \\\n"
    "    --hash=sha256:8ca1e4fcf50d07413d66d1a5e416e42cfdf5851c981d679a09851a6853383b3c\n"
)
NEEDED = "needed by redis 5.2.1 on this target (python_full_version 3.11.2 < 3.11.3)"


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WHEELHOUSE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("PIP_INDEX_URL", raising=False)
    monkeypatch.delenv("PIP_EXTRA_INDEX_URL", raising=False)
    monkeypatch.chdir(tmp_path)


def wheelhouse(tmp_path: Path, requirements: str, resolve: str, targets: str) -> Path:
    (tmp_path / "requirements.txt").write_text(requirements, encoding="utf-8")
    config = tmp_path / "wheelhouse.yaml"
    config.write_text(
        f"requirements: requirements.txt\noutput: out\nresolve: {resolve}\ntargets:\n{targets}",
        encoding="utf-8",
    )
    return config


def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> Ran:
    monkeypatch.setattr(sys, "argv", ["wheelhouse", *args])
    try:
        cli.main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return Ran(code, out, err)


def packages(ran: Ran, target: str) -> dict[str, dict[str, Any]]:
    found = next(t for t in ran.json()["targets"] if t["id"] == target)
    return {p["name"]: p for p in found["packages"]}


BOTH = f"  - id: {CP311}\n    python_full_version: 3.11.2\n  - id: {CP312}\n"


def test_resolve_never_makes_the_missing_dependency_an_error_row_on_3_11_2_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = wheelhouse(tmp_path, REDIS, "never", BOTH)

    ran = run(monkeypatch, capsys, "plan", "--json", "-c", str(config))

    assert ran.code == 3, ran.err
    error = packages(ran, CP311)["async-timeout"]
    assert error["action"] == "error"
    assert error["reason"] == (
        f"async-timeout>=4.0.3 is not pinned, yet {NEEDED}; `resolve: never` adds nothing: "
        "pin it for this target (`uv pip compile --python-platform aarch64-manylinux_2_36 "
        "--python-version 3.11.2 --generate-hashes requirements.in -o "
        f"{tmp_path}/requirements.txt`) or set `resolve: auto`"
    )
    assert list(packages(ran, CP312)) == ["redis"]


def test_resolve_auto_adds_a_hash_pinned_async_timeout_for_3_11_2_and_nothing_for_3_12(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = wheelhouse(tmp_path, REDIS, "auto", BOTH)

    ran = run(monkeypatch, capsys, "plan", "--json", "-c", str(config))

    assert ran.code == 0, ran.err
    added = packages(ran, CP311)["async-timeout"]
    assert (added["action"], added["reason"]) == ("download", f"added: {NEEDED}")
    assert added["file"].endswith("-py3-none-any.whl") and len(added["sha256"]) == 64
    assert list(packages(ran, CP312)) == ["redis"]

    text = run(monkeypatch, capsys, "plan", "-c", str(config))  # warm: the metadata cache
    assert f"{CP311}  (builds in python:3.11-slim; Python 3.11.2)" in text.out
    assert f"{CP312}  (builds in python:3.12-slim; Python 3.12.0 assumed)" in text.out
    assert f"warning: {CP311}: added async-timeout {added['version']}: {NEEDED}" in text.out


def test_a_pin_outside_redis_specifier_is_an_error_row_naming_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = wheelhouse(tmp_path, REDIS + OLD_TIMEOUT, "auto", BOTH)

    ran = run(monkeypatch, capsys, "plan", "--json", "-c", str(config))

    assert ran.code == 3, ran.err
    assert packages(ran, CP311)["async-timeout"]["reason"] == (
        "redis 5.2.1 requires async-timeout>=4.0.3, but async-timeout 4.0.2 is pinned: pin a "
        "async-timeout that redis 5.2.1 accepts, or another redis"
    )
    assert packages(ran, CP312)["async-timeout"]["action"] == "download"  # no edge on 3.12


@pytest.mark.engine
def test_build_learns_3_11_2_from_the_image_adds_async_timeout_and_verifies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    target = (
        f"  - id: {CP311}\n    base_image: wheelhouse-test/python:3.11-bookworm-arm64\n"
        "    cross_image: wheelhouse-test/python:3.11-bookworm-amd64\n"
    )
    config = wheelhouse(tmp_path, REDIS, "auto", target)

    ran = run(monkeypatch, capsys, "build", "--json", "--verify", "-c", str(config))

    assert ran.code == 0, ran.err
    assert f"[{CP311}] Python 3.11.2, glibc 2.36 in wheelhouse-test/python:3.11-bookworm-arm64" in (
        ran.err
    )
    pinned = (tmp_path / "out" / CP311 / "requirements.txt").read_text(encoding="utf-8")
    names = sorted(line.split("==")[0] for line in pinned.splitlines() if "==" in line)
    assert names == ["async-timeout", "redis"]
    assert all("--hash=sha256:" in line for line in pinned.splitlines() if "==" in line)
    report = ran.json()
    assert report["ok"] is True
    assert [t["ok"] for t in report["verify"]["targets"]] == [True]


def test_a_uv_lock_missing_an_edge_is_reported_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    demo = Path(__file__).resolve().parents[1] / "data/uvlock/demo/uv.lock"
    text = demo.read_text(encoding="utf-8")
    stale = tmp_path / "uv.lock"
    stale.write_text(text.replace('    { name = "six" },\n', "", 1), encoding="utf-8")

    ran = run(monkeypatch, capsys, "plan", "--json", "-r", str(stale), "-t", CP312)

    assert ran.code == 3, ran.err
    six = packages(ran, CP312)["six"]
    assert six["action"] == "error"
    assert six["reason"] == (
        "six>=1.9.0 is not in uv.lock for this target, yet needed by ecdsa 0.19.2 on this "
        "target: the lock is stale; run `uv lock` and plan again"
    )
