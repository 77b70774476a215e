"""Mutation fuzz of every parser of user input, seeded from the repository's real files.

Prints figures; it is not a test (and not in the test command). Run it from the
repository root for a bounded time:

    .venv/bin/python scripts/fuzz_inputs.py                 # 60 s, seed 17
    .venv/bin/python scripts/fuzz_inputs.py --seconds 270 --seed 1

Each input is a real requirements file, uv.lock, wheelhouse.yaml, PEP 691 page or
distribution file name with a few mutations a typo or a damaged file makes: bytes
flipped, deleted, duplicated or inserted, tokens that break URLs and TOML/YAML/JSON
(``[``, ``://``, ``\\xff``, ``@``, ...) spliced in, lines swapped. An input passes when it
parses or raises one of the project's errors (``WheelhouseError``; an index page goes
through the client's own reading of an answer). Anything else is a crash:
it is grouped by exception type and the innermost frame in ``orchestrator/``, and one
example of each class is written under ``--out`` to become a unit regression case.

A plain seeded mutator rather than hypothesis or atheris: the inputs are whole real files
and the interesting mutations are token splices in them, which a ten-line mutator does
without a new dependency (atheris also needs a clang-built wheel on this Python).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
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


def mutate(data: bytes, rng: random.Random) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        at = rng.randint(0, len(buf))
        match rng.randrange(6):
            case 0 if buf:
                buf[min(at, len(buf) - 1)] = rng.randrange(256)
            case 1:
                del buf[at : at + rng.randint(1, 8)]
            case 2:
                piece = buf[at : at + rng.randint(1, 16)]
                buf[at:at] = piece
            case 3 | 4:
                buf[at:at] = rng.choice(TOKENS)
            case _:
                lines = bytes(buf).split(b"\n")
                if len(lines) > 1:
                    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
                    lines[i], lines[j] = lines[j], lines[i]
                    buf = bytearray(b"\n".join(lines))
    return bytes(buf)


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--out", type=Path, default=Path("fuzz-crashes"))
    args = parser.parse_args()
    rng = random.Random(args.seed)
    kinds = seeds()
    counts: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    crashes: dict[str, tuple[str, bytes, str]] = {}
    hits: Counter[str] = Counter()
    started = time.perf_counter()
    deadline = started + args.seconds
    with tempfile.TemporaryDirectory(prefix="wheelhouse-fuzz-") as tmp:
        scratch = Path(tmp)
        while time.perf_counter() < deadline:
            kind = rng.choice(list(kinds))
            run, corpus = kinds[kind]
            if not corpus:
                continue
            data = mutate(rng.choice(corpus), rng)
            counts[kind] += 1
            try:
                run(data, scratch)
            except WheelhouseError:
                errors[kind] += 1
            except Exception as exc:  # a crash is what the fuzz looks for
                name = crash_class(exc)
                hits[name] += 1
                crashes.setdefault(name, (kind, data, str(exc)[:100]))
    elapsed = time.perf_counter() - started
    print(f"{sum(counts.values())} inputs in {elapsed:.0f} s (seed {args.seed})")
    for kind in kinds:
        print(f"  {kind:18} {counts[kind]:7} inputs, {errors[kind]:7} project errors")
    print(f"{len(crashes)} crash classes")
    if crashes:
        args.out.mkdir(parents=True, exist_ok=True)
    for i, (name, (kind, data, message)) in enumerate(sorted(crashes.items())):
        example = args.out / f"crash-{i}-{kind.replace(' ', '-')}"
        example.write_bytes(data)
        print(f"  {kind}: {name} ({hits[name]} inputs): {message}\n    example: {example}")
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
