"""Property-based fuzz (hypothesis) of every parser of user input, seeded from real files.

Prints figures; it is not a test (and not in the test command). Run it from the
repository root for a bounded time:

    .venv/bin/python scripts/fuzz_inputs.py                 # 60 s, seed 17
    .venv/bin/python scripts/fuzz_inputs.py --seconds 270 --seed 1

Each input is a real requirements file, uv.lock, wheelhouse.yaml, PEP 691 page or
distribution file name from this repository with one to six edits hypothesis draws: a
byte set, bytes deleted or repeated, a token that breaks URLs and TOML/YAML/JSON (``[``,
``://``, ``\\xff``, ``@``, ...) spliced in, two lines swapped. The property: the input
parses or raises one of the project's errors (``WheelhouseError``; an index page goes
through the client's own reading of an answer). Anything else is a crash, grouped by
exception type and the innermost frame in ``orchestrator/``; hypothesis shrinks each new
class to a small input (fewer edits, the first seed file), written under ``--out`` to
become a unit regression case.

hypothesis rather than atheris: it runs on this CPython without a clang-built wheel,
its shrinking turns a crash in a 2,000-line uv.lock into the one edit that causes it, and
a seed replays a run exactly. The run is bounded by time, in rounds of ``--examples``
inputs per kind, each round with its own seed derived from ``--seed``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    parse_sdist_filename,
    parse_wheel_filename,
)

from orchestrator.config import load_config
from orchestrator.errors import WheelhouseError
from orchestrator.filenames import version_text
from orchestrator.plan.requirements import parse_requirements
from orchestrator.plan.uvlock import parse_uv_lock
from orchestrator.pypi.index import _read_files

ROOT = Path(__file__).resolve().parents[1]

TOKENS = [
    b"[",
    b"]",
    b"{",
    b"}",
    b"://",
    b"https://[",
    b"@",
    b"#",
    b";",
    b"\\",
    b"\n",
    b"\r",
    b"\x00",
    b"\xff",
    b"\xe9",
    b"\xef\xbb\xbf",
    b"==",
    b"~=",
    b"-r ",
    b"--index-url ",
    b"--extra-index-url https://[pypi.org/simple ",
    b"-e ",
    b"%",
    b"%zz",
    b":",
    b":abc",
    b'"',
    b"'",
    b",",
    b"=",
    b"- ",
    b": ",
    b"*",
    b"&a ",
    b"!!python/object ",
    b"99999999999",
    b"-1",
    b"true",
    b"null",
    b"1e999",
    b"\t",
    b"..",
    b"/",
    b"file:",
    b"git+",
]

PAGE = {
    "meta": {"api-version": "1.1"},
    "name": "six",
    "files": [
        {
            "filename": "six-1.16.0-py2.py3-none-any.whl",
            "url": "https://files.pythonhosted.org/packages/six-1.16.0-py2.py3-none-any.whl",
            "hashes": {
                "sha256": "8abb2f1d86890a2dfb989f9a77cfcfd3e47c2a354b01111771326f8aa26e0254"
            },
            "requires-python": ">=2.7, !=3.0.*",
            "core-metadata": {"sha256": "ab"},
            "size": 11053,
            "yanked": False,
        },
        {"filename": "six-1.16.0.tar.gz", "url": "../six-1.16.0.tar.gz", "hashes": {}},
    ],
}

FILENAMES = [
    b"six-1.16.0-py2.py3-none-any.whl",
    b"numpy-2.1.0-cp312-cp312-musllinux_1_2_aarch64.whl",
    b"pyyaml-6.0.2.tar.gz",
    b"backports.zoneinfo-0.2.1.zip",
]


#: One mutation: (what, where, how much). Where is taken modulo the input's length, so
#: hypothesis shrinks a crash towards fewer, earlier, smaller edits of the first seed.
EDITS = st.one_of(
    st.tuples(st.just("set"), st.integers(0, 1 << 16), st.integers(0, 255)),
    st.tuples(st.just("delete"), st.integers(0, 1 << 16), st.integers(1, 8)),
    st.tuples(st.just("repeat"), st.integers(0, 1 << 16), st.integers(1, 16)),
    st.tuples(st.just("token"), st.integers(0, 1 << 16), st.integers(0, len(TOKENS) - 1)),
    st.tuples(st.just("swap"), st.integers(0, 1 << 16), st.integers(0, 1 << 16)),
)
Edit = tuple[str, int, int]


def mutate(data: bytes, edits: list[Edit]) -> bytes:
    """``data`` with each edit applied in turn (a byte set, bytes deleted or repeated, a
    token spliced in, two lines swapped)."""
    buf = bytearray(data)
    for what, where, amount in edits:
        at = where % (len(buf) + 1)
        if what == "set" and buf:
            buf[min(at, len(buf) - 1)] = amount
        elif what == "delete":
            del buf[at : at + amount]
        elif what == "repeat":
            buf[at:at] = buf[at : at + amount]
        elif what == "token":
            buf[at:at] = TOKENS[amount]
        elif what == "swap":
            lines = bytes(buf).split(b"\n")
            i, j = where % len(lines), amount % len(lines)
            lines[i], lines[j] = lines[j], lines[i]
            buf = bytearray(b"\n".join(lines))
    return bytes(buf)


def inputs(corpus: list[bytes]) -> st.SearchStrategy[bytes]:
    """A real file of ``corpus`` with one to six edits."""
    return st.builds(mutate, st.sampled_from(corpus), st.lists(EDITS, min_size=1, max_size=6))


def _file_parser(name: str, parse: Callable[[Path], object]) -> Callable[[bytes, Path], None]:
    def run(data: bytes, scratch: Path) -> None:
        path = scratch / name
        path.write_bytes(data)
        parse(path)

    return run


def _page(data: bytes, scratch: Path) -> None:
    response = httpx.Response(
        200,
        content=data,
        headers={"content-type": "application/vnd.pypi.simple.v1+json"},
        request=httpx.Request("GET", "https://pypi.org/simple/six/"),
    )
    _read_files("https://pypi.org/simple", "six", response)


def _filename(data: bytes, scratch: Path) -> None:
    name = data.decode("utf-8", "replace")
    version_text(name)
    try:
        if name.endswith(".whl"):
            parse_wheel_filename(name)
        else:
            parse_sdist_filename(name)
    except (InvalidWheelFilename, InvalidSdistFilename):
        pass


def seeds() -> dict[str, tuple[Callable[[bytes, Path], None], list[bytes]]]:
    def read(pattern: str) -> list[bytes]:
        return [
            p.read_bytes()
            for p in sorted(ROOT.glob(pattern))
            if ".venv" not in p.parts and p.stat().st_size < 200_000
        ]

    requirements = read("**/requirements*.txt")
    return {
        "requirements.txt": (
            _file_parser("requirements.txt", parse_requirements),
            requirements,
        ),
        "uv.lock": (_file_parser("uv.lock", parse_uv_lock), read("**/uv.lock")),
        "wheelhouse.yaml": (
            _file_parser("wheelhouse.yaml", load_config),
            read("**/wheelhouse*.yaml"),
        ),
        "index page": (_page, [json.dumps(PAGE, indent=1).encode()]),
        "file name": (_filename, FILENAMES),
    }


def crash_class(exc: BaseException) -> str:
    """The exception type and the innermost frame in orchestrator/: one class per bug."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/orchestrator/" in f.filename]
    where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?"
    return f"{type(exc).__name__} at {where}"


@dataclass
class Campaign:
    """What the rounds found: inputs and project errors per kind; per crash class its kind,
    how many inputs hit it, and the smallest input that did (hypothesis shrinks towards
    it), with its message."""

    inputs: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    hits: Counter[str] = field(default_factory=Counter)
    crashes: dict[str, tuple[str, bytes, str]] = field(default_factory=dict)

    def record(self, kind: str, data: bytes, exc: Exception) -> str:
        name = crash_class(exc)
        self.hits[name] += 1
        smallest = self.crashes.get(name)
        if smallest is None or len(data) < len(smallest[1]):
            self.crashes[name] = (kind, data, str(exc)[:100])
        return name


def fuzz_round(
    kind: str,
    run: Callable[[bytes, Path], None],
    corpus: list[bytes],
    scratch: Path,
    found: Campaign,
    *,
    seed_value: int,
    examples: int,
) -> None:
    """One hypothesis run of ``examples`` inputs. A crash class already known when the
    round starts counts and passes; a new one fails the run, so hypothesis shrinks it
    (the known set is fixed for the round: the property must not change under it)."""
    known = frozenset(found.crashes)

    @seed(seed_value)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=(Phase.generate, Phase.shrink),
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    @given(inputs(corpus))
    def parses_or_fails_with_the_projects_error(data: bytes) -> None:
        found.inputs[kind] += 1
        try:
            run(data, scratch)
        except WheelhouseError:
            found.errors[kind] += 1
        except Exception as exc:  # a crash is what the fuzz looks for
            if found.record(kind, data, exc) not in known:
                raise

    # A new crash class, shrunk and recorded, ends the round: the next one goes on.
    with contextlib.suppress(Exception):
        parses_or_fails_with_the_projects_error()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--examples", type=int, default=200, help="inputs per round")
    parser.add_argument("--out", type=Path, default=Path("fuzz-crashes"))
    args = parser.parse_args()
    kinds = {k: v for k, v in seeds().items() if v[1]}
    found = Campaign()
    rounds = 0
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="wheelhouse-fuzz-") as tmp:
        scratch = Path(tmp)
        while time.perf_counter() < started + args.seconds:
            for kind, (run, corpus) in kinds.items():
                fuzz_round(
                    kind,
                    run,
                    corpus,
                    scratch,
                    found,
                    seed_value=args.seed * 1_000_003 + rounds,
                    examples=args.examples,
                )
                rounds += 1
    elapsed = time.perf_counter() - started
    total = sum(found.inputs.values())
    print(f"{total} inputs in {elapsed:.0f} s, {rounds} hypothesis rounds (seed {args.seed})")
    for kind in kinds:
        print(f"  {kind:18} {found.inputs[kind]:7} inputs, {found.errors[kind]:7} project errors")
    print(f"{len(found.crashes)} crash classes")
    if found.crashes:
        args.out.mkdir(parents=True, exist_ok=True)
    for i, (name, (kind, data, message)) in enumerate(sorted(found.crashes.items())):
        example = args.out / f"crash-{i}-{kind.replace(' ', '-')}"
        example.write_bytes(data)
        print(f"  {kind}: {name} ({found.hits[name]} inputs): {message}")
        print(f"    smallest example ({len(data)} bytes): {example}")
    return 1 if found.crashes else 0


if __name__ == "__main__":
    sys.exit(main())
