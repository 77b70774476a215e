"""The verify script that runs inside the runtime image, shipped as source (`container_script`)."""

from __future__ import annotations

import importlib.metadata
import inspect
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

#
# Everything below up to ``container_script`` is shipped as source into the runtime image and
# run by *its* Python (any CPython >= 3.8): standard library only, no syntax newer than 3.8.
# Annotations are fine: the shipped source starts with ``from __future__ import annotations``.


_IMPORT_MARKER = "WHEELHOUSE-IMPORT "


_IMPORT_SNIPPET = (
    "import importlib, json, sys\n"
    "try:\n"
    "    importlib.import_module(sys.argv[1])\n"
    "except BaseException as exc:\n"
    "    result = type(exc).__name__ + ': ' + str(exc)\n"
    "else:\n"
    "    result = 'ok'\n"
    f"print({_IMPORT_MARKER!r} + json.dumps(result), flush=True)\n"
)


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _record_modules(paths: Iterable[str]) -> list[str]:
    """Top-level importable modules of a distribution, from the paths its RECORD lists.

    A top-level ``x.py`` or extension ``x.<abi>.so`` is module ``x``; a directory is the
    shallowest one holding ``__init__.py`` (so a namespace package ``a/`` yields ``a.b``).
    ``*.dist-info``, ``*.data``, ``__pycache__``, ``*.pth`` and scripts (``../bin``) are no
    modules.
    """
    modules = set()
    packages = set()
    for raw in paths:
        parts = raw.replace("\\", "/").split("/")
        top = parts[0]
        if top in ("", ".", "..") or top.endswith((".dist-info", ".data")):
            continue
        if "__pycache__" in parts:
            continue
        if len(parts) == 1:
            if top.endswith(".py"):
                modules.add(top[:-3])
            elif top.endswith((".so", ".pyd")):
                modules.add(top.split(".", 1)[0])
            continue
        leaf = parts[-1]
        if leaf == "__init__.py" or (leaf.startswith("__init__.") and leaf.endswith(".so")):
            packages.add(tuple(parts[:-1]))
    for package in packages:
        if not any(package[:depth] in packages for depth in range(1, len(package))):
            modules.add(".".join(package))
    return sorted(m for m in modules if all(p.isidentifier() for p in m.split(".")))


def _modules_of(dist: importlib.metadata.Distribution) -> list[str]:
    files = dist.files
    if files is not None:
        return _record_modules(str(f) for f in files)
    top_level = dist.read_text("top_level.txt") or ""
    return sorted(line.strip() for line in top_level.splitlines() if line.strip())


def _import_in_fresh_process(python: str, module: str, timeout: float) -> str:
    try:
        done = subprocess.run(
            [python, "-I", "-c", _IMPORT_SNIPPET, module],
            capture_output=True,
            cwd="/",
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"TimeoutExpired: import {module} took longer than {timeout:.0f} s"
    for line in reversed(done.stdout.decode("utf-8", "replace").splitlines()):
        if line.startswith(_IMPORT_MARKER):
            return str(json.loads(line[len(_IMPORT_MARKER) :]))
    if done.returncode < 0:
        return f"Crashed: killed by {signal.Signals(-done.returncode).name}"
    errors = done.stderr.decode("utf-8", "replace").strip().splitlines()
    return f"Crashed: exit code {done.returncode}: {errors[-1] if errors else 'no output'}"


def _run_test(venv: str, command: str, timeout: float) -> dict[str, Any]:
    """A recipe's ``test``: ``sh -c`` with the venv first on PATH; its code and output tail."""
    sys.stderr.write("+ test: " + command + "\n")
    env = dict(os.environ, VIRTUAL_ENV=venv, PATH=venv + "/bin:" + os.environ.get("PATH", ""))
    try:
        done = subprocess.run(
            ["sh", "-c", command],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd="/tmp",
            env=env,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"command": command, "returncode": 124, "output": f"timed out after {timeout:.0f} s"}
    output = done.stdout.decode("utf-8", "replace")
    sys.stderr.write(output)
    tail = "\n".join(output.splitlines()[-20:])
    return {"command": command, "returncode": done.returncode, "output": tail}


def _run_logged(argv: list[str]) -> tuple[int, str]:
    """Run ``argv``, echoing its output to stderr (progress); return the code and the output."""
    sys.stderr.write("+ " + " ".join(argv) + "\n")
    with subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd="/"
    ) as process:
        assert process.stdout is not None
        output = []
        for raw in process.stdout:
            line = raw.decode("utf-8", "replace")
            sys.stderr.write(line)
            output.append(line)
        code = process.wait()
    sys.stderr.flush()
    return code, "".join(output)


def _emit(record: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(record, sort_keys=True) + "\n")
    sys.stdout.flush()


def _step(name: str, code: int, output: str) -> bool:
    tail = "\n".join(output.splitlines()[-40:])
    _emit({"step": name, "ok": code == 0, "returncode": code, "log_tail": tail})
    return code == 0


def _installed(venv: str) -> dict[str, importlib.metadata.Distribution]:
    sites = [str(p) for p in sorted(Path(venv).glob("lib/python*/site-packages"))]
    found: dict[str, importlib.metadata.Distribution] = {}
    for dist in importlib.metadata.distributions(path=sites):
        found.setdefault(_canonical(dist.metadata["Name"] or ""), dist)
    return found


def _requirements(path: str) -> dict[str, str]:
    pins = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        match = re.match(r"\s*([A-Za-z0-9][\w.-]*)==(\S+)", line)
        if match:
            pins[_canonical(match.group(1))] = match.group(2)
    return pins


def _pip_for(venv: str) -> list[str] | None:
    """The image's own pip aimed at ``venv`` (pip >= 22.3 has ``--python``), if it has one.

    Under QEMU, ``ensurepip`` costs a minute: installing pip into the venv and compiling it.
    A venv ``--without-pip`` plus the image's pip gives the same clean environment.
    """
    try:
        version = importlib.metadata.version("pip")
    except importlib.metadata.PackageNotFoundError:
        return None
    match = re.match(r"(\d+)\.(\d+)", version)
    if not match or (int(match.group(1)), int(match.group(2))) < (22, 3):
        return None
    return [sys.executable, "-m", "pip", "--python", venv + "/bin/python"]


def _container_main(argv: list[str]) -> int:
    wheelhouse, venv, import_timeout = argv[0], argv[1], float(argv[2])
    skip = set(argv[3].split(",")) if len(argv) > 3 and argv[3] else set()
    recipes = json.loads(argv[4]) if len(argv) > 4 and argv[4] else {}
    pip = _pip_for(venv)
    make_venv = [sys.executable, "-m", "venv", *(["--without-pip"] if pip else []), venv]
    if not _step("venv", *_run_logged(make_venv)):
        return 0
    before = set(_installed(venv))
    requirements = wheelhouse + "/requirements.txt"
    install = [*(pip or [venv + "/bin/pip"]), "install", "--no-index", "--only-binary", ":all:"]
    install += ["--find-links", wheelhouse, "--require-hashes", "-r", requirements]
    install += ["--no-cache-dir", "--disable-pip-version-check", "--progress-bar", "off"]
    _step("install", *_run_logged(install))
    pins = _requirements(requirements)
    installed = _installed(venv)
    for name in sorted(set(pins) | (set(installed) - before)):
        dist = installed.get(name)
        if dist is None:
            _emit({"name": name, "version": pins[name], "installed": False, "imports": {}})
            continue
        if name in skip:
            _emit(
                {
                    "name": name,
                    "version": dist.version,
                    "installed": True,
                    "imports": {},
                    "import_skipped": True,
                }
            )
            continue
        recipe = recipes.get(name, {})
        imports = {}
        modules = recipe.get("imports")
        for module in _modules_of(dist) if modules is None else modules:
            sys.stderr.write("+ import " + module + "\n")
            imports[module] = _import_in_fresh_process(venv + "/bin/python", module, import_timeout)
        record = {"name": name, "version": dist.version, "installed": True, "imports": imports}
        if recipe.get("test"):
            record["test"] = _run_test(venv, recipe["test"], import_timeout)
        _emit(record)
    return 0


_SHIPPED = (
    _canonical,
    _record_modules,
    _modules_of,
    _import_in_fresh_process,
    _run_test,
    _run_logged,
    _emit,
    _step,
    _pip_for,
    _installed,
    _requirements,
    _container_main,
)


def container_script() -> str:
    """The verify script's source, for ``<python> -c`` (argv: wheelhouse, venv, timeout)."""
    header = [
        "from __future__ import annotations",
        "import importlib.metadata, json, os, re, signal, subprocess, sys",
        "from pathlib import Path",
        "from typing import Any",
        f"_IMPORT_MARKER = {_IMPORT_MARKER!r}",
        f"_IMPORT_SNIPPET = {_IMPORT_SNIPPET!r}",
    ]
    bodies = [inspect.getsource(function) for function in _SHIPPED]
    return (
        "\n".join(header)
        + "\n\n\n"
        + "\n\n".join(bodies)
        + ("\n\nsys.exit(_container_main(sys.argv[1:]))\n")
    )
