"""Ask an sdist's PEP 517 backend what else it needs to build a wheel.

Usage: python backend-requires.py SDIST DEPS_DIR

build-wheel.sh runs this inside the offline package stage, with the tools venv's Python,
after pip failed to install the backend's own requirements: pip names only the first one
it could not find, this prints all that ``get_requires_for_build_wheel`` returns, one per
line, so the builder can provide every one for the next attempt. The backend runs as pip
runs it: in a fresh venv holding ``build-system.requires`` (installed offline from
DEPS_DIR), in the unpacked source tree. Everything but the requirements goes to stderr.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
import tempfile
import tomllib
import zipfile
from pathlib import Path
from typing import Any

#: What pip assumes without a ``[build-system]`` table.
LEGACY_REQUIRES = ["setuptools>=40.8.0"]
LEGACY_BACKEND = "setuptools.build_meta:__legacy__"
#: Runs in the build venv: imports the backend as pip does and writes the hook's answer.
HOOK = """
import importlib, json, os, sys
backend, paths, out = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
sys.path[:0] = [os.path.abspath(p) for p in paths]
module, _, attrs = backend.partition(":")
obj = importlib.import_module(module)
for attr in filter(None, attrs.split(".")):
    obj = getattr(obj, attr)
hook = getattr(obj, "get_requires_for_build_wheel", None)
with open(out, "w", encoding="utf-8") as handle:
    json.dump([str(r) for r in (hook({}) if hook is not None else [])], handle)
"""


def main(sdist: str, deps: str) -> int:
    with tempfile.TemporaryDirectory(prefix="wheelhouse-requires-") as tmp:
        src = unpack(Path(sdist), Path(tmp) / "src")
        requires, backend, paths = build_system(src)
        env = Path(tmp) / "env"
        run([sys.executable, "-m", "venv", "--without-pip", str(env)])
        python = str(env / "bin" / "python")
        if requires:
            pip = [sys.executable, "-m", "pip", "--python", python, "install", "--no-compile"]
            run([*pip, "--no-index", "--find-links", deps, *requires])
        answer = Path(tmp) / "requires.json"
        run([python, "-c", HOOK, backend, json.dumps(paths), str(answer)], cwd=src)
        for requirement in json.loads(answer.read_text(encoding="utf-8")):
            print(requirement)
    return 0


def run(args: list[str], cwd: Path | None = None) -> None:
    subprocess.run(args, cwd=cwd, check=True, stdout=sys.stderr)


def unpack(sdist: Path, into: Path) -> Path:
    """The sdist's top directory, extracted under ``into``."""
    if sdist.name.endswith(".zip"):
        with zipfile.ZipFile(sdist) as archive:
            archive.extractall(into)
    else:
        with tarfile.open(sdist) as archive:
            # Debian bookworm's Python 3.11.2 predates extraction filters.
            safe: dict[str, Any] = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            archive.extractall(into, **safe)
    tops = [p for p in into.iterdir() if p.is_dir()]
    return tops[0] if len(tops) == 1 else into


def build_system(src: Path) -> tuple[list[str], str, list[str]]:
    """``requires``, ``build-backend`` and ``backend-path`` as pip reads them."""
    pyproject = src / "pyproject.toml"
    data = tomllib.loads(pyproject.read_text(encoding="utf-8")) if pyproject.is_file() else {}
    system = data.get("build-system")
    if not isinstance(system, dict) or "requires" not in system:
        return list(LEGACY_REQUIRES), LEGACY_BACKEND, []
    backend = system.get("build-backend", LEGACY_BACKEND)
    return list(system["requires"]), str(backend), list(system.get("backend-path", []))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
