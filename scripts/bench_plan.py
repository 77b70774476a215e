"""Benchmark ``wheelhouse plan`` on a large, fully pinned requirements file.

Prints figures; it is not a test. It asks the real PyPI (and runs uv), so it needs
the network. Run it from the repository root:

    .venv/bin/python scripts/bench_plan.py              # the table
    .venv/bin/python scripts/bench_plan.py --profile    # and where the time goes
    .venv/bin/python scripts/bench_plan.py --regenerate # rewrite the requirements file

What it times, for four targets at once:
  - the in-process plan (``Session.open`` + ``Session.plan``), cold (a fresh
    ``WHEELHOUSE_CACHE_DIR``) and warm (the same cache again, best and median of N);
  - ``wheelhouse plan`` as a subprocess with the warm cache (what a user waits for);
  - ``uv pip compile --python-platform ... --python-version 3.12`` of the same file per
    target, with ``--no-cache`` and with a warm uv cache of its own.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from orchestrator.model import Plan
from orchestrator.plan import planner
from orchestrator.plan.requirements import parse_requirements
from orchestrator.pypi.uv import known_platforms_of, python_platform, uv_command
from orchestrator.session import Session
from orchestrator.targets import Target

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / "tests/data/bench/requirements-large.txt"
TARGETS = (
    "cp312-musllinux_1_2_aarch64",
    "cp312-manylinux_2_36_aarch64",
    "cp312-musllinux_1_2_x86_64",
    "cp312-manylinux_2_36_x86_64",
)
GOAL_COLD = 2.0
GOAL_WARM = 0.3

#: What requirements-large.txt is compiled from (``--regenerate``): popular projects
#: of every kind, so the closure is large (200+ pins) and the pages are big ones.
TOP_LEVEL = """
django
djangorestframework
flask
fastapi
uvicorn[standard]
gunicorn
celery[redis]
boto3
pandas
numpy
scipy
scikit-learn
sqlalchemy
alembic
psycopg2
requests
httpx
pydantic
jupyter
matplotlib
pillow
lxml
cryptography
paramiko
pytest
black
mypy
ruff
redis
pyyaml
jinja2
click
rich
typer
aiohttp
grpcio
protobuf
orjson
ujson
psutil
pyzmq
msgpack
sentry-sdk
structlog
python-dateutil
pytz
markdown
beautifulsoup4
openpyxl
xlsxwriter
seaborn
statsmodels
sympy
networkx
tqdm
python-jose[cryptography]
passlib[bcrypt]
"""


def main(argv: Sequence[str] | None = None) -> None:
    args = _arguments(argv)
    if args.regenerate:
        _regenerate(args.requirements)
    with tempfile.TemporaryDirectory(prefix="wheelhouse-bench-") as tmp:
        work = Path(tmp)
        config = _write_config(work, args.requirements, args.target)
        _bench(args, work, config)


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requirements", type=Path, default=REQUIREMENTS)
    parser.add_argument("--target", action="append", help="repeatable (default: four targets)")
    parser.add_argument("--warm-runs", type=int, default=5)
    parser.add_argument("--no-uv", action="store_true", help="skip the uv timings")
    parser.add_argument("--profile", action="store_true", help="cProfile the cold and warm plans")
    parser.add_argument("--regenerate", action="store_true", help="rewrite --requirements first")
    args = parser.parse_args(argv)
    args.target = tuple(args.target or TARGETS)
    return args


def _write_config(work: Path, requirements: Path, targets: Sequence[str]) -> Path:
    config = work / "wheelhouse.yaml"
    ids = "".join(f"  - {t}\n" for t in targets)
    config.write_text(f"requirements: {requirements.resolve()}\ntargets:\n{ids}", encoding="utf-8")
    return config


def _bench(args: argparse.Namespace, work: Path, config: Path) -> None:
    pins = len(parse_requirements(args.requirements).requirements)
    cache = work / "cache"
    print(f"{args.requirements.name}: {pins} pinned lines, {len(args.target)} targets")
    rows: list[tuple[str, float, str]] = []

    cold, plan = _timed(lambda: _plan(config, cache), args.profile and "cold")
    pages = len(list((cache / "http").glob("*.json")))
    size = sum(p.stat().st_size for p in (cache / "http").glob("*.json")) / 2**20
    print(f"plan: {_summary(plan)}; HTTP cache: {pages} pages, {size:.1f} MiB\n")
    rows.append(("wheelhouse plan, in-process, cold cache", cold, _goal(cold, GOAL_COLD)))

    warm = [_timed(lambda: _plan(config, cache))[0] for _ in range(args.warm_runs)]
    best, median = min(warm), statistics.median(warm)
    rows.append((f"wheelhouse plan, in-process, warm (best of {len(warm)})", best, ""))
    rows.append(("wheelhouse plan, in-process, warm (median)", median, _goal(median, GOAL_WARM)))
    if args.profile:
        _timed(lambda: _plan(config, cache), "warm")

    sub = _subprocess_plan(config, cache)
    rows.append(("`wheelhouse plan` subprocess, warm cache", sub, ""))

    if not args.no_uv:
        targets = [Target.parse(t) for t in args.target]
        uv_cold = sum(_uv_compile(args.requirements, t, None) for t in targets)
        rows.append((f"uv pip compile --no-cache, {len(targets)} targets", uv_cold, ""))
        uv_cache = work / "uv-cache"
        _uv_compile(args.requirements, targets[0], uv_cache)  # fill uv's own cache
        uv_warm = sum(_uv_compile(args.requirements, t, uv_cache) for t in targets)
        rows.append((f"uv pip compile, warm uv cache, {len(targets)} targets", uv_warm, ""))
        _print_table(rows, {"cold": cold, "warm": median, "uv cold": uv_cold, "uv warm": uv_warm})
    else:
        _print_table(rows, {})


def _plan(config: Path, cache: Path) -> Plan:
    os.environ["WHEELHOUSE_CACHE_DIR"] = str(cache)
    _forget_memos()
    return Session.open(config, None, (), ()).plan()


def _forget_memos() -> None:
    """Clear the planner's in-memory memos, so a warm run in-process is what a new process
    sees: a warm cache directory, nothing more."""
    for value in vars(planner).values():
        clear = getattr(value, "cache_clear", None)
        if callable(clear):
            clear()


def _timed(step: Callable[[], Plan], profile: str | bool = False) -> tuple[float, Plan]:
    profiler = cProfile.Profile() if profile else None
    start = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    plan = step()
    if profiler is not None:
        profiler.disable()
    elapsed = time.perf_counter() - start
    if profiler is not None:
        _print_profile(str(profile), elapsed, profiler)
    return elapsed, plan


def _print_profile(label: str, elapsed: float, profiler: cProfile.Profile) -> None:
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(order).print_stats(18)
        print(f"--- profile: {label} plan ({elapsed:.2f} s under cProfile), by {order}")
        print("\n".join(line for line in out.getvalue().splitlines()[4:] if line.strip()))
        print()


def _subprocess_plan(config: Path, cache: Path) -> float:
    beside = Path(sys.executable).with_name("wheelhouse")
    command = [str(beside)] if beside.exists() else [sys.executable, "-m", "orchestrator.cli"]
    env = {**os.environ, "WHEELHOUSE_CACHE_DIR": str(cache)}
    start = time.perf_counter()
    done = subprocess.run(
        [*command, "plan", "--config", str(config), "--json"],
        env=env,
        capture_output=True,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 3):
        sys.exit(f"wheelhouse plan failed ({done.returncode}): {done.stderr.decode()}")
    return elapsed


def _uv_compile(requirements: Path, target: Target, cache: Path | None) -> float:
    # --no-python-downloads as wheelhouse's own resolver runs it: without it, uv first
    # tries to download a CPython 3.12 for the --python-version (seconds, or a failure).
    command = [
        *uv_command(),
        "pip",
        "compile",
        str(requirements),
        "--python-platform",
        python_platform(target, known_platforms_of(uv_command())),
        "--python-version",
        target.python_version,
        "--no-python-downloads",
        "--quiet",
        *(["--cache-dir", str(cache)] if cache is not None else ["--no-cache"]),
    ]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"uv pip compile failed for {target.id}: {done.stderr}")
    return elapsed


def _summary(plan: Plan) -> str:
    parts = []
    for tp in plan.targets:
        counts = tp.counts
        parts.append(
            f"{tp.target.id} {counts['download']} wheels/{counts['build']} builds"
            f"/{counts['error']} errors"
        )
    return "; ".join(parts)


def _goal(seconds: float, goal: float) -> str:
    verdict = "met" if seconds <= goal else f"MISSED ({seconds / goal:.1f}x the goal)"
    return f"goal {goal:g} s: {verdict}"


def _print_table(rows: list[tuple[str, float, str]], figures: dict[str, float]) -> None:
    width = max(len(r[0]) for r in rows)
    print(f"| {'step'.ljust(width)} | seconds | note")
    print(f"| {'-' * width} | ------- | ----")
    for label, seconds, note in rows:
        print(f"| {label.ljust(width)} | {seconds:7.3f} | {note}")
    if figures:
        print()
        print("ratios (uv time / wheelhouse time; above 1: wheelhouse is faster):")
        pairs = [
            ("uv --no-cache / wheelhouse cold", "uv cold", "cold"),
            ("uv warm cache / wheelhouse warm", "uv warm", "warm"),
            ("uv warm cache / wheelhouse cold", "uv warm", "cold"),
        ]
        for label, top, bottom in pairs:
            print(f"  {label}: {figures[top] / figures[bottom]:.1f}x")


def _regenerate(requirements: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "requirements-large.in"
        source.write_text(TOP_LEVEL.lstrip(), encoding="utf-8")
        command = [
            *uv_command(),
            "pip",
            "compile",
            str(source),
            "--universal",
            "--python-version",
            "3.12",
            "--no-python-downloads",
            "--no-annotate",
            "--quiet",
            "--custom-compile-command",
            "python scripts/bench_plan.py --regenerate",
            "-o",
            str(requirements),
        ]
        subprocess.run(command, check=True)
    print(f"rewrote {requirements}")


if __name__ == "__main__":
    main()
