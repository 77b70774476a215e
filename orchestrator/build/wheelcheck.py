"""The target check of a cross-built wheel: shipped into the build context as ``check-wheel.py``.

A cross-compiled wheel enters the wheelhouse only when it passes two steps:

``symbols`` (native, in the cross stage, against the target base image's file system mounted
at ROOT, nothing of it executed): every undefined dynamic symbol of each ELF object of the
wheel (weak ones aside) is defined by the target's interpreter, the libraries it loads, or
the libraries the object needs, found as ld.so finds them (RPATH/RUNPATH with ``$ORIGIN``,
ROOT's ld.so.conf, the default dirs). Symbol versions count (``sscanf@GLIBC_2.17``): a
toolchain newer than the target's libc shows up here (``__isoc23_sscanf@GLIBC_2.38``).
SYSLIBS (optional) holds the target's builds of the libraries the wheel leaves to the
runtime image's packages (the knowledge file's ``system_libraries``: uwsgi's libpython),
which the base image lacks: searched last here, and on ``LD_LIBRARY_PATH`` for ``target``.
Writes ``OUT/symbols.json``.

``target`` (in a container of the target's base image, under QEMU for a foreign target, with
the image's own Python): the wheels are unpacked onto ``sys.path`` (the builder checked their
tags against the target's), each ELF object is loaded with ``dlopen(RTLD_NOW)`` and
``LD_BIND_NOW=1`` in a fresh interpreter (the dynamic loader's own verdict; an executable,
such as uwsgi's binary, by its own loader's ``--list`` with ``LD_BIND_NOW=1``), and each
top-level module is imported in a fresh interpreter (``LD_BIND_NOW=1``). A
``ModuleNotFoundError`` for a module the wheel does not ship is a dependency that is not
installed here: noted, not failed. ``--no-import`` skips imports (packages that refuse to
import off their hardware). A pure-Python wheel has no ELF object: only the import applies.
Writes ``OUT/check.json`` (with the ``symbols`` step's findings), ``check.log`` and
``check-status`` (0 passed, 1 failed, 2 nothing to check).

Usage::

    python check-wheel.py symbols NAME BUILT_DIR OUT_DIR ROOT PYTHON [SYSLIBS]
    python check-wheel.py target NAME BUILT_DIR OUT_DIR [--no-import]

``BUILT_DIR`` is the cross build's ``/out/NAME`` (its ``status`` and wheels). Both steps
always exit 0: a failing RUN would cancel its sibling stages. Standalone on purpose: the
standard library and (for ``symbols``) pyelftools only, Python >= 3.9.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any, Literal

#: ``check-status`` values.
PASSED, FAILED, NOTHING = 0, 1, 2
#: Seconds for one import or dlopen in a fresh interpreter (QEMU is slow; a hang is a fail).
STEP_TIMEOUT = 300
SYMBOLS_FILE = "symbols.json"
ELF_MAGIC = b"\x7fELF"
_MARKER = "WHEELHOUSE-CHECK "
_LOAD_SNIPPET = (
    "import ctypes, json, os, sys\n"
    "try:\n"
    "    ctypes.CDLL(sys.argv[1], mode=os.RTLD_NOW)\n"
    "except BaseException as exc:\n"
    "    result = {'error': type(exc).__name__ + ': ' + str(exc)}\n"
    "else:\n"
    "    result = {}\n"
    f"print({_MARKER!r} + json.dumps(result), flush=True)\n"
)
_IMPORT_SNIPPET = (
    "import importlib, json, sys\n"
    "sys.path.insert(0, sys.argv[2])\n"
    "try:\n"
    "    importlib.import_module(sys.argv[1])\n"
    "except ModuleNotFoundError as exc:\n"
    "    result = {'missing': exc.name or '', 'error': 'ModuleNotFoundError: ' + str(exc)}\n"
    "except BaseException as exc:\n"
    "    result = {'error': type(exc).__name__ + ': ' + str(exc)}\n"
    "else:\n"
    "    result = {}\n"
    f"print({_MARKER!r} + json.dumps(result), flush=True)\n"
)
#: What glibc's and musl's loaders print for an object that does not load.
_LOADER_PROBLEM = re.compile(r"undefined symbol|not found|Error relocating|Error loading")
_DEFAULT_LIB_DIRS = ("/lib64", "/usr/lib64", "/lib", "/usr/lib")
#: musl's loader without an /etc/ld-musl-<arch>.path (musl's ldso/dynlink.c).
_MUSL_DEFAULT_DIRS = ("/lib", "/usr/local/lib", "/usr/lib")
_BIN_DIRS = ("/usr/local/bin", "/usr/bin", "/bin")
_BINDINGS = ("STB_GLOBAL", "STB_WEAK", "STB_GNU_UNIQUE")
_MAX_LINKS = 40

Symbol = tuple[str, "str | None"]


# --- modules --------------------------------------------------------------------------------


def top_level_modules(names: list[str]) -> list[str]:
    """Top-level modules of a wheel from its member names: ``x.py``, ``x.<abi>.so``, a
    directory with ``__init__.py`` (a namespace directory gives its packages: ``a.b``)."""
    found: set[str] = set()
    for name in names:
        parts = name.split("/")
        top = parts[0]
        if top.endswith((".dist-info", ".data", ".libs")) or top == "__pycache__":
            continue
        if len(parts) == 1:
            if top.endswith((".py", ".so")):
                found.add(top.split(".", 1)[0])
        elif parts[1] == "__init__.py":
            found.add(top)
        elif len(parts) == 3 and parts[2] == "__init__.py" and f"{top}/__init__.py" not in names:
            found.add(f"{top}.{parts[1]}")
    return sorted(found)


def missing_dependency(result: dict[str, str], modules: list[str]) -> str | None:
    """The dependency an import lacked, when it is not a module of the wheel itself."""
    missing = result.get("missing")
    if not missing:
        return None
    ours = {m.split(".", 1)[0] for m in modules}
    return None if missing.split(".", 1)[0] in ours else missing


# --- paths inside the target's file system ----------------------------------------------------


class Root:
    """The target's file system, mounted at ``path`` on this machine: its absolute symlinks
    point inside it, not at this machine's files."""

    def __init__(self, path: str | Path = "/") -> None:
        self.path = Path(path).absolute()

    def host(self, target_path: str) -> Path:
        """Where ``target_path`` (absolute, as the target sees it) is here, links followed."""
        parts = [p for p in target_path.split("/") if p]
        done: list[str] = []
        hops = 0
        while parts:
            part = parts.pop(0)
            if part in (".", ".."):
                done = done[:-1] if part == ".." else done
                continue
            here = self.path.joinpath(*done, part)
            if here.is_symlink() and hops < _MAX_LINKS:
                hops += 1
                link = os.readlink(here)  # noqa: PTH115 (Path.readlink is Python >= 3.9 only)
                parts = [p for p in link.split("/") if p] + parts
                done = [] if link.startswith("/") else done
                continue
            done.append(part)
        return self.path.joinpath(*done)

    def interpreter(self, command: str) -> Path | None:
        """The target's ``command`` (``python3``) as a host path: absolute, or on its PATH."""
        absolute = command.startswith("/")
        for candidate in [command] if absolute else [f"{d}/{command}" for d in _BIN_DIRS]:
            path = self.host(candidate)
            if path.is_file():
                return path
        return None

    def ld_so_conf_dirs(self, conf: str = "/etc/ld.so.conf") -> list[str]:
        """The directories the target's ld.so.conf lists (as the target names them)."""
        try:
            lines = self.host(conf).read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return []
        dirs: list[str] = []
        for raw in lines:
            line = raw.split("#", 1)[0].strip()
            if line.startswith("include "):
                pattern = PurePosixPath(conf).parent / line.split(None, 1)[1]
                where = self.host(str(pattern.parent))
                for match in sorted(where.glob(pattern.name)):
                    dirs += self.ld_so_conf_dirs(str(pattern.parent / match.name))
            elif line:
                dirs.append(line)
        return dirs

    def ld_musl_path_dirs(self) -> list[str] | None:
        """The directories musl's loader searches (``/etc/ld-musl-<arch>.path``, split on
        colons and newlines, else musl's defaults); ``None`` on a target without musl."""
        etc = self.host("/etc")
        paths = sorted(etc.glob("ld-musl-*.path"))
        if paths:
            text = paths[0].read_text(encoding="utf-8", errors="replace")
            return [d for d in text.replace("\n", ":").split(":") if d.strip()]
        musl = any(any(self.host(d).glob("ld-musl-*.so.1")) for d in ("/lib", "/usr/lib"))
        return list(_MUSL_DEFAULT_DIRS) if musl else None


# --- ELF symbols ----------------------------------------------------------------------------


class Elf:
    """What the check needs of one ELF object (read with pyelftools)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.machine = ""
        self.elfclass = 0
        self.needed: list[str] = []
        self.rpath: list[str] = []
        self.runpath: list[str] = []
        self.undefined: set[Symbol] = set()
        self.defined: set[Symbol] = set()

    @classmethod
    def read(cls, path: Path) -> Elf:
        elffile = importlib.import_module("elftools.elf.elffile")
        elf = cls(path)
        with path.open("rb") as handle:
            parsed = elffile.ELFFile(handle)
            elf.machine = str(parsed["e_machine"])
            elf.elfclass = int(parsed.elfclass)
            elf._read_dynamic(parsed)
            elf._read_symbols(parsed)
        return elf

    def _read_dynamic(self, parsed: Any) -> None:
        dynamic = parsed.get_section_by_name(".dynamic")
        if dynamic is None:
            return
        for tag in dynamic.iter_tags():
            if tag.entry.d_tag == "DT_NEEDED":
                self.needed.append(tag.needed)
            elif tag.entry.d_tag == "DT_RPATH":
                self.rpath += [p for p in tag.rpath.split(":") if p]
            elif tag.entry.d_tag == "DT_RUNPATH":
                self.runpath += [p for p in tag.runpath.split(":") if p]

    def _read_symbols(self, parsed: Any) -> None:
        dynsym = parsed.get_section_by_name(".dynsym")
        if dynsym is None:
            return
        names = _version_names(parsed)
        indexes = _version_indexes(parsed)
        for index, symbol in enumerate(dynsym.iter_symbols()):
            if index == 0 or not symbol.name:
                continue
            version = names.get(indexes[index]) if index < len(indexes) else None
            bind, section = symbol["st_info"]["bind"], symbol["st_shndx"]
            if section == "SHN_UNDEF":
                if bind == "STB_GLOBAL":
                    self.undefined.add((symbol.name, version))
            elif bind in _BINDINGS:
                self.defined.add((symbol.name, version))


def _version_indexes(parsed: Any) -> list[int]:
    """The ``.gnu.version`` entries (one per dynamic symbol), read in one go: pyelftools'
    per-symbol lookup is slow, and this runs over libc's and the interpreter's thousands."""
    versym = parsed.get_section_by_name(".gnu.version")
    if versym is None:
        return []
    data = versym.data()
    order: Literal["little", "big"] = "little" if parsed.little_endian else "big"
    return [int.from_bytes(data[i : i + 2], order) & 0x7FFF for i in range(0, len(data), 2)]


def _version_names(parsed: Any) -> dict[int, str]:
    """Version index -> name, for both needed (``.gnu.version_r``) and defined versions."""
    names: dict[int, str] = {}
    verneed = parsed.get_section_by_name(".gnu.version_r")
    if verneed is not None:
        for _need, auxes in verneed.iter_versions():
            for aux in auxes:
                names[int(aux["vna_other"])] = aux.name
    verdef = parsed.get_section_by_name(".gnu.version_d")
    if verdef is not None:
        for definition, auxes in verdef.iter_versions():
            if definition["vd_flags"] & 1:  # VER_FLG_BASE: the file's own name, not a version
                continue
            first = next(iter(auxes), None)
            if first is not None:
                names[int(definition["vd_ndx"])] = first.name
    return names


def is_elf(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(4) == ELF_MAGIC
    except OSError:
        return False


def interpreter_of(path: Path) -> str | None:
    """The program interpreter (``PT_INTERP``) of an ELF executable; ``None`` for a library.

    Read by hand (the target step has no pyelftools): a PIE executable is an ``ET_DYN``
    like a shared library, and only its interpreter tells them apart."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if data[:4] != ELF_MAGIC or len(data) < 64:
        return None
    wide, order = data[4] == 2, "<" if data[5] == 1 else ">"
    if wide:
        phoff, phentsize, phnum = struct.unpack_from(order + "Q14xHH", data, 32)
    else:
        phoff, phentsize, phnum = struct.unpack_from(order + "I10xHH", data, 28)
    for index in range(phnum):
        at = phoff + index * phentsize
        if at + phentsize > len(data) or struct.unpack_from(order + "I", data, at)[0] != 3:
            continue
        fields = "IIQQ" if wide else "IIII"
        offset = struct.unpack_from(order + fields, data, at)[2 if wide else 1]
        size_at = at + (32 if wide else 16)
        size = struct.unpack_from(order + ("Q" if wide else "I"), data, size_at)[0]
        return data[offset : offset + size].rstrip(b"\0").decode("utf-8", "replace")
    return None


def unresolved(undefined: set[Symbol], defined: set[Symbol]) -> list[str]:
    """``name@version`` of each undefined symbol no definition satisfies, sorted.

    A versioned reference needs that version, or an unversioned definition (ld.so accepts
    one); an unversioned reference takes any definition of the name.
    """
    names = {name for name, _ in defined}
    unversioned = {name for name, version in defined if version is None}
    missing = []
    for name, version in undefined:
        found = name in names if version is None else _has_version(name, version, defined)
        if not found and name not in unversioned:
            missing.append(symbol_text((name, version)))
    return sorted(missing)


def _has_version(name: str, version: str, defined: set[Symbol]) -> bool:
    return (name, version) in defined


def symbol_text(symbol: Symbol) -> str:
    name, version = symbol
    return f"{name}@{version}" if version else name


class Libraries:
    """Finds the libraries an object needs, as the target's ld.so would; reads each once."""

    def __init__(self, root: Root, extra: Path | None = None) -> None:
        self.root = root
        # musl's loader first: on a musl target built from a glibc distribution (Debian's
        # musl), ld.so.conf lists glibc builds of the same libraries.
        musl = root.ld_musl_path_dirs() or []
        self.system_dirs = [*musl, *root.ld_so_conf_dirs(), *_DEFAULT_LIB_DIRS]
        #: The target's builds of the libraries the runtime image's packages provide (a
        #: host directory, searched last): what the base image lacks and verify installs.
        self.extra = extra
        self.cache: dict[Path, Elf | None] = {}

    def elf(self, host_path: Path) -> Elf | None:
        real = host_path.resolve()
        if real not in self.cache:
            self.cache[real] = Elf.read(real) if is_elf(real) else None
        return self.cache[real]

    def _dir(self, entry: str, owner: Elf) -> Path:
        """A search directory as a host path: ``$ORIGIN`` is where the owner is, here."""
        if "$ORIGIN" in entry or "${ORIGIN}" in entry:
            origin = str(owner.path.parent)
            return Path(entry.replace("${ORIGIN}", origin).replace("$ORIGIN", origin))
        return self.root.host(entry)

    def find(self, name: str, owner: Elf) -> Elf | None:
        if "/" in name:
            path = self.root.host(name)
            return self.elf(path) if path.exists() else None
        dirs = [] if owner.runpath else [self._dir(d, owner) for d in owner.rpath]
        dirs += [self._dir(d, owner) for d in owner.runpath]
        dirs += [self.root.host(d) for d in self.system_dirs]
        dirs += [self.extra] if self.extra is not None else []
        for directory in dirs:
            candidate = directory / name
            if not candidate.exists():
                continue
            found = self.elf(candidate)
            if found and (found.machine, found.elfclass) == (owner.machine, owner.elfclass):
                return found
        return None

    def closure(self, start: Elf) -> tuple[list[Elf], list[str]]:
        """Every object ``start`` loads (itself first), and the names not found."""
        seen = {start.path.resolve()}
        order, queue = [start], [start]
        missing: set[str] = set()
        while queue:
            owner = queue.pop(0)
            for name in owner.needed:
                found = self.find(name, owner)
                if found is None:
                    missing.add(name)
                elif found.path.resolve() not in seen:
                    seen.add(found.path.resolve())
                    order.append(found)
                    queue.append(found)
        return order, sorted(missing)


def check_objects(
    objects: list[Path], site: Path, libraries: Libraries, python: str
) -> dict[str, Any]:
    """Per ELF object (path relative to ``site``): needed libraries, undefined symbols, and
    those neither the interpreter's libraries nor the object's own define."""
    where = libraries.root.interpreter(python)
    interpreter = libraries.elf(where) if where is not None else None
    if interpreter is None:
        raise RuntimeError(f"the target image has no {python}")
    provided: set[Symbol] = set()
    for item in libraries.closure(interpreter)[0]:
        provided |= item.defined
    report: dict[str, Any] = {}
    for path in objects:
        elf = libraries.elf(path)
        if elf is None:
            continue
        loaded, not_found = libraries.closure(elf)
        # An executable runs on its own: the Python interpreter's symbols are not there.
        defined = set() if interpreter_of(path) is not None else set(provided)
        for item in loaded:
            defined |= item.defined
        report[path.relative_to(site).as_posix()] = {
            "machine": elf.machine,
            "needed": sorted(elf.needed),
            "libraries_not_found": not_found,
            "undefined": sorted(symbol_text(s) for s in elf.undefined),
            "unresolved": unresolved(elf.undefined, defined),
        }
    return report


# --- the wheels -------------------------------------------------------------------------------


def built_wheels(built: Path) -> list[Path]:
    """The cross build's wheels, or none when it failed (its ``status`` is not 0)."""
    try:
        status = (built / "status").read_text(encoding="utf-8").strip()
    except OSError:
        return []
    return sorted(built.glob("*.whl")) if status == "0" else []


def unpack(wheels: list[Path], site: Path) -> list[str]:
    """Unpack the wheels into ``site`` (as an install would); their member names."""
    names: list[str] = []
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(site)
            names += archive.namelist()
    return names


def elf_objects(site: Path, members: list[str]) -> list[Path]:
    paths = [site / m for m in members if not m.endswith("/")]
    return sorted(p for p in paths if is_elf(p))


# --- running things -------------------------------------------------------------------------


def run_snippet(snippet: str, args: list[str]) -> dict[str, str]:
    """Run ``snippet`` in a fresh interpreter with LD_BIND_NOW=1; its JSON result."""
    env = dict(os.environ, LD_BIND_NOW="1")
    try:
        done = subprocess.run(
            [sys.executable, "-s", "-c", snippet, *args],
            capture_output=True,
            cwd="/",
            env=env,
            timeout=STEP_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"TimeoutExpired: took longer than {STEP_TIMEOUT} s"}
    for line in reversed(done.stdout.decode("utf-8", "replace").splitlines()):
        if line.startswith(_MARKER):
            return dict(json.loads(line[len(_MARKER) :]))
    errors = done.stderr.decode("utf-8", "replace").strip().splitlines()
    return {"error": f"Crashed: exit code {done.returncode}: {errors[-1] if errors else ''}"}


def _import(module: str, site: Path, modules: list[str]) -> str:
    result = run_snippet(_IMPORT_SNIPPET, [module, str(site)])
    if not result:
        return "ok"
    missing = missing_dependency(result, modules)
    if missing is not None:
        return f"skipped: needs {missing} (dependencies are not installed here)"
    return result.get("error", str(result))


def _load(path: Path) -> str:
    interpreter = interpreter_of(path)
    if interpreter is not None:
        return _load_executable(path, interpreter)
    return run_snippet(_LOAD_SNIPPET, [str(path)]).get("error", "ok")


def _load_executable(path: Path, interpreter: str) -> str:
    """An executable (uwsgi's binary) cannot be dlopen()ed: its own loader lists it
    instead (``ld.so --list``, glibc's and musl's), which maps and relocates it with
    ``LD_BIND_NOW=1`` and reports what does not resolve, without running its main."""
    env = dict(os.environ, LD_BIND_NOW="1")
    command = [interpreter, "--list", str(path)]
    if "ld-linux" in interpreter:
        # glibc relocates in trace mode only as `ldd -r` asks it (musl's --list always does).
        env.update(LD_TRACE_LOADED_OBJECTS="1", LD_WARN="yes", LD_BIND_NOW="yes")
        command = [interpreter, str(path)]
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            cwd="/",
            env=env,
            timeout=STEP_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"TimeoutExpired: took longer than {STEP_TIMEOUT} s"
    except OSError as exc:
        return f"{type(exc).__name__}: its interpreter {interpreter}: {exc}"
    text = (done.stdout + done.stderr).decode("utf-8", "replace").splitlines()
    bad = [line.strip() for line in text if _LOADER_PROBLEM.search(line)]
    if done.returncode != 0 or bad:
        shown = "; ".join(bad[:5]) or (text[-1].strip() if text else "")
        return f"{interpreter} --list: exit code {done.returncode}: {shown}"
    return "ok"


# --- the two steps ----------------------------------------------------------------------------


def symbols_step(
    wheels: list[Path], root: Root, python: str, extra: Path | None = None
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="wheelhouse-symbols-") as temp:
        site = Path(temp)
        objects = elf_objects(site, unpack(wheels, site))
        if not objects:
            return {"objects": {}}
        return {"objects": check_objects(objects, site, Libraries(root, extra), python)}


def target_step(wheels: list[Path], *, imports: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="wheelhouse-check-") as temp:
        site = Path(temp)
        members = unpack(wheels, site)
        loads = {p.relative_to(site).as_posix(): _load(p) for p in elf_objects(site, members)}
        modules = top_level_modules(members)
        found = {m: _import(m, site, modules) for m in modules} if imports else {}
    return {"loads": loads, "imports": found}


def problems_of(report: dict[str, Any]) -> list[str]:
    """Each reason the wheel fails, one sentence each, the most telling first."""
    found: list[str] = list(report.get("errors", []))
    for path, info in sorted(report.get("objects", {}).items()):
        if info["libraries_not_found"]:
            found.append(f"{path} needs {', '.join(info['libraries_not_found'])}: not found")
        if info["unresolved"]:
            shown = ", ".join(info["unresolved"][:5])
            more = len(info["unresolved"]) - 5
            extra = f" (+{more} more)" if more > 0 else ""
            found.append(f"undefined symbol(s) in {path}: {shown}{extra}")
    for path, result in sorted(report.get("loads", {}).items()):
        if result != "ok":
            found.append(f"dlopen {path}: {result}")
    for module, result in sorted(report.get("imports", {}).items()):
        if result != "ok" and not result.startswith("skipped"):
            found.append(f"import {module}: {result}")
    return found


def _guarded(step: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """A step that cannot run fails the wheel, with the reason (never the RUN)."""
    try:
        return dict(step(*args, **kwargs))
    except Exception as exc:
        return {"errors": [f"the check could not run ({step.__name__}): {exc!r}"]}


def symbols_main(  # noqa: PLR0917 (the command line's arguments, in order)
    name: str, built: str, out: str, root: str, python: str, extra: str | None = None
) -> int:
    start = time.monotonic()
    wheels = built_wheels(Path(built))
    report: dict[str, Any] = {"name": name, "wheels": [w.name for w in wheels]}
    if wheels:
        syslibs = Path(extra) if extra else None
        report.update(_guarded(symbols_step, wheels, Root(root), python, syslibs))
    report["seconds"] = round(time.monotonic() - start, 3)
    _write(Path(out), SYMBOLS_FILE, json.dumps(report, indent=2, sort_keys=True) + "\n")
    return 0


def target_main(name: str, built: str, out: str, *, imports: bool) -> int:
    start = time.monotonic()
    wheels = built_wheels(Path(built))
    report: dict[str, Any] = {"name": name, "wheels": [w.name for w in wheels]}
    status = NOTHING
    if wheels:
        report.update(_read_symbols(Path(built)))
        report.update(_guarded(target_step, wheels, imports=imports))
        report["problems"] = problems_of(report)
        status = FAILED if report["problems"] else PASSED
    report["seconds"] = round(time.monotonic() - start, 3)
    _write(Path(out), "check.json", json.dumps(report, indent=2, sort_keys=True) + "\n")
    _write(Path(out), "check.log", "\n".join(report.get("problems", [])) + "\n")
    _write(Path(out), "check-status", f"{status}\n")
    return 0


def _read_symbols(built: Path) -> dict[str, Any]:
    try:
        data = json.loads((built / SYMBOLS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return {"errors": [f"no symbol check: {exc}"]}
    return {
        "objects": data.get("objects", {}),
        "errors": list(data.get("errors", [])),
        "symbols_seconds": data.get("seconds"),
    }


def _write(out: Path, name: str, text: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / name).write_text(text, encoding="utf-8")


def main(argv: list[str]) -> int:
    if argv[:1] == ["symbols"] and len(argv) in (6, 7):
        return symbols_main(*argv[1:7])
    if argv[:1] == ["target"] and len(argv) in (4, 5):
        return target_main(*argv[1:4], imports="--no-import" not in argv[4:])
    sys.stderr.write(__doc__ or "")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
