"""What source builds need from the system: the packaged knowledge file and user overrides.

``orchestrator/data/system-packages.yaml`` maps popular source-built packages (PEP 503
names) to the apt and apk packages their build and their wheel need, and maps headers,
pkg-config modules, libraries and commands to the packages that ship them (for
:mod:`orchestrator.build.hints`). It is validated by hand like wheelhouse.yaml: every
error names the file and the field path (``packages.psycopg2.apt[0]``).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml
from packaging.utils import NormalizedName, canonicalize_name

from orchestrator.config import SONAME, PackageConfig, PackageManager
from orchestrator.errors import ConfigError
from orchestrator.paths import read_text

DATA_FILE = "system-packages.yaml"
#: How errors name the packaged file.
PACKAGED_SOURCE = f"orchestrator/data/{DATA_FILE}"

_MANAGER_KEYS = ("apt", "apk", "none")
_PROVIDER_KEYS = ("apt", "apk")
_PACKAGE_KEYS = (
    "apt",
    "apk",
    "runtime_apt",
    "runtime_apk",
    "system_libraries",
    "rust",
    "emulate_only",
    "test",
    "imports",
    "notes",
)
_SONAME_FIX = "a YAML list of sonames, as the extension's NEEDED names them, e.g. [libasound.so.2]"
#: A dotted module name, as wheelhouse.yaml's ``imports`` takes it.
_MODULE = re.compile(r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*$")
#: Sections that map a header, module, library, command or requirement to its packages.
_PROVIDER_SECTIONS = ("headers", "pkg_config", "libraries", "commands", "build_requirements")
_TOP_KEYS = ("toolchain", "rust_toolchain", "packages", *_PROVIDER_SECTIONS)
_REQUIRED_TOP_KEYS = ("toolchain", "rust_toolchain")
_LIST_FIX = "write a YAML list with one package name per item, e.g. [libpq-dev, pkgconf]"


@dataclass(frozen=True, kw_only=True)
class PackageKnowledge:
    """What one package's source build needs, and what its wheel links at run time."""

    apt: tuple[str, ...] = ()
    apk: tuple[str, ...] = ()
    runtime_apt: tuple[str, ...] = ()
    runtime_apk: tuple[str, ...] = ()
    #: Shared libraries the system provides at run time (sonames, as the extension's
    #: DT_NEEDED names them): ``auditwheel repair --exclude`` keeps them out of the wheel,
    #: and the runtime image installs ``runtime_apt``/``runtime_apk`` for them.
    system_libraries: tuple[str, ...] = ()
    #: The build needs cargo and rustc (the knowledge file's ``rust_toolchain``).
    rust: bool = False
    #: The build runs target programs: it can be emulated, never cross-compiled.
    emulate_only: bool = False
    #: verify's defaults for this package (wheelhouse.yaml's ``test``/``imports`` win):
    #: for uwsgi, whose one module imports only inside the uwsgi binary, run the binary.
    test: str | None = None
    imports: tuple[str, ...] | None = None
    notes: str = ""

    def build(self, manager: PackageManager) -> tuple[str, ...]:
        """This entry's own build packages (without the rust toolchain)."""
        return self.apt if manager == "apt" else self.apk if manager == "apk" else ()

    def runtime(self, manager: PackageManager) -> tuple[str, ...]:
        if manager == "apt":
            return self.runtime_apt
        return self.runtime_apk if manager == "apk" else ()


@dataclass(frozen=True, kw_only=True)
class RuntimeNeeds:
    """What a wheel needs the runtime image to provide (``Knowledge.runtime_needs``)."""

    #: Sonames the wheel links but does not carry.
    libraries: tuple[str, ...] = ()
    #: The target's packages that ship them (empty for ``package_manager: none``).
    packages: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Providers:
    """The apt and apk packages that ship one header, module, library or command."""

    apt: tuple[str, ...] = ()
    apk: tuple[str, ...] = ()

    def for_manager(self, manager: PackageManager) -> tuple[str, ...]:
        return self.apt if manager == "apt" else self.apk if manager == "apk" else ()


def _frozen(mapping: Mapping[Any, Any] | None = None) -> Mapping[Any, Any]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True, kw_only=True)
class Knowledge:
    """The knowledge file, read-only: per-package needs and who ships what."""

    packages: Mapping[NormalizedName, PackageKnowledge] = field(default_factory=_frozen)
    #: The base toolchain per package manager (``apt``, ``apk``, ``none``).
    toolchain: Mapping[str, tuple[str, ...]] = field(default_factory=_frozen)
    #: What ``rust: true`` adds, per package manager.
    rust_toolchain: Mapping[str, tuple[str, ...]] = field(default_factory=_frozen)
    #: ``#include`` name (or ``dir/*``) -> packages that ship it.
    headers: Mapping[str, Providers] = field(default_factory=_frozen)
    #: pkg-config module name, lower case -> packages that ship its ``.pc``.
    pkg_config: Mapping[str, Providers] = field(default_factory=_frozen)
    #: Linker name (``pq`` for ``-lpq``) -> packages that ship the library.
    libraries: Mapping[str, Providers] = field(default_factory=_frozen)
    #: Program a build runs -> packages that ship it.
    commands: Mapping[str, Providers] = field(default_factory=_frozen)
    #: Normalized Python requirement a backend asks for only when a tool is missing.
    build_requirements: Mapping[str, Providers] = field(default_factory=_frozen)

    def with_overrides(self, overrides: Mapping[NormalizedName, PackageConfig]) -> Knowledge:
        """wheelhouse.yaml ``packages:``: a non-empty list replaces the file's; new names add."""
        packages = dict(self.packages)
        for name, config in overrides.items():
            base = packages.get(name, PackageKnowledge())
            packages[name] = replace(
                base,
                apt=config.apt or base.apt,
                apk=config.apk or base.apk,
                runtime_apt=config.runtime_apt or base.runtime_apt,
                runtime_apk=config.runtime_apk or base.runtime_apk,
                system_libraries=config.system_libraries or base.system_libraries,
            )
        return replace(self, packages=_frozen(packages))

    def build_packages(self, name: NormalizedName, manager: PackageManager) -> tuple[str, ...]:
        """System packages ``name``'s build needs besides the toolchain (rust included)."""
        entry = self.packages.get(name)
        if entry is None:
            return ()
        rust = self.rust_toolchain_for(manager) if entry.rust else ()
        return _unique((*entry.build(manager), *rust))

    def runtime_packages(self, name: NormalizedName, manager: PackageManager) -> tuple[str, ...]:
        entry = self.packages.get(name)
        return entry.runtime(manager) if entry is not None else ()

    def system_libraries(self, name: NormalizedName) -> tuple[str, ...]:
        """Libraries ``name``'s wheel leaves to the system (``auditwheel repair --exclude``)."""
        entry = self.packages.get(name)
        return entry.system_libraries if entry is not None else ()

    def runtime_needs(self, name: NormalizedName, manager: PackageManager) -> RuntimeNeeds:
        """What a built wheel of ``name`` needs of the runtime image: nothing unless the
        entry names ``system_libraries`` (auditwheel copies every other library into the
        wheel), else those libraries and the target's runtime packages that ship them."""
        libraries = self.system_libraries(name)
        if not libraries:
            return RuntimeNeeds()
        return RuntimeNeeds(libraries=libraries, packages=self.runtime_packages(name, manager))

    def toolchain_for(self, manager: PackageManager) -> tuple[str, ...]:
        return self.toolchain.get(manager, ())

    def rust_toolchain_for(self, manager: PackageManager) -> tuple[str, ...]:
        return self.rust_toolchain.get(manager, ()) if manager != "none" else ()

    def header(self, include: str) -> Providers | None:
        """Who ships ``include``: an exact entry, else the deepest matching ``dir/*``."""
        if include in self.headers:
            return self.headers[include]
        parts = include.split("/")[:-1]
        for depth in range(len(parts), 0, -1):
            found = self.headers.get("/".join(parts[:depth]) + "/*")
            if found is not None:
                return found
        return None


def load_knowledge(path: Path | None = None) -> Knowledge:
    """Read a knowledge file; ``None`` is the one packaged with wheelhouse."""
    if path is None:
        return _packaged()
    text = read_text(path, what="system packages file", error=ConfigError, hint="check the path")
    return parse_knowledge(text, str(path))


@cache
def _packaged() -> Knowledge:
    text = resources.files("orchestrator").joinpath("data", DATA_FILE).read_text(encoding="utf-8")
    return parse_knowledge(text, PACKAGED_SOURCE)


def parse_knowledge(text: str, source: str) -> Knowledge:
    """Parse and validate the YAML text of a knowledge file; ``source`` names it in errors."""
    try:
        duplicate = _duplicate_key(yaml.compose(text, Loader=yaml.SafeLoader))
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        raise ConfigError(f"{where}: not valid YAML: {exc}", hint="fix the YAML syntax") from None
    if duplicate is not None:
        raise ConfigError(
            f"{source}:{duplicate.start_mark.line + 1}: key {duplicate.value!r} appears twice",
            hint="keep one entry per key",
        )
    return _Parser(source).knowledge(data if data is not None else {})


def _duplicate_key(node: yaml.Node | None) -> yaml.ScalarNode | None:
    """The first mapping key that repeats (PyYAML keeps the last one silently)."""
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                if key.value in seen:
                    return key
                seen.add(key.value)
            found = _duplicate_key(value)
            if found is not None:
                return found
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            found = _duplicate_key(item)
            if found is not None:
                return found
    return None


class _Parser:
    """Validates the parsed YAML into frozen data; every error names ``source`` and a path."""

    def __init__(self, source: str) -> None:
        self.source = source

    def knowledge(self, data: object) -> Knowledge:
        top = self.mapping(data, "", _TOP_KEYS)
        for key in _REQUIRED_TOP_KEYS:
            if key not in top:
                raise self.error(key, "missing", f"add `{key}:` with apt and apk lists")
        sections = {
            key: self.providers_section(top.get(key, {}), key) for key in _PROVIDER_SECTIONS
        }
        pkg_config = {module.lower(): found for module, found in sections["pkg_config"].items()}
        return Knowledge(
            packages=_frozen(self.packages(top.get("packages", {}))),
            toolchain=_frozen(self.toolchain(top["toolchain"], "toolchain", _MANAGER_KEYS)),
            rust_toolchain=_frozen(
                self.toolchain(top["rust_toolchain"], "rust_toolchain", _PROVIDER_KEYS)
            ),
            headers=_frozen(sections["headers"]),
            pkg_config=_frozen(pkg_config),
            libraries=_frozen(sections["libraries"]),
            commands=_frozen(sections["commands"]),
            build_requirements=_frozen(
                {canonicalize_name(k): v for k, v in sections["build_requirements"].items()}
            ),
        )

    def toolchain(
        self, data: object, where: str, keys: tuple[str, ...]
    ) -> dict[str, tuple[str, ...]]:
        section = self.mapping(data, where, keys)
        return {key: self.names(section.get(key, []), f"{where}.{key}") for key in keys}

    def packages(self, data: object) -> dict[NormalizedName, PackageKnowledge]:
        result: dict[NormalizedName, PackageKnowledge] = {}
        for name, value in self.mapping(data, "packages", None).items():
            where = f"packages.{name}"
            canonical = canonicalize_name(name)
            if canonical != name:
                raise self.error(where, "not a normalized (PEP 503) name", f"write `{canonical}`")
            result[canonical] = self.package(self.mapping(value, where, _PACKAGE_KEYS), where)
        return result

    def package(self, entry: dict[str, Any], where: str) -> PackageKnowledge:
        lists = {
            key: self.names(entry.get(key, []), f"{where}.{key}")
            for key in ("apt", "apk", "runtime_apt", "runtime_apk")
        }
        libraries = self.sonames(entry.get("system_libraries", []), f"{where}.system_libraries")
        if libraries and not (lists["runtime_apt"] or lists["runtime_apk"]):
            raise self.error(
                f"{where}.system_libraries",
                "names libraries the runtime image must provide, but no runtime package",
                "add runtime_apt and runtime_apk: the packages that ship them",
            )
        test = self.text(entry["test"], f"{where}.test") if "test" in entry else None
        if test == "":
            raise self.error(f"{where}.test", "is empty", "a shell command, e.g. uwsgi --version")
        return PackageKnowledge(
            rust=self.flag(entry.get("rust", False), f"{where}.rust"),
            emulate_only=self.flag(entry.get("emulate_only", False), f"{where}.emulate_only"),
            test=test,
            imports=self.modules(entry["imports"], f"{where}.imports")
            if "imports" in entry
            else None,
            notes=self.text(entry.get("notes", ""), f"{where}.notes"),
            system_libraries=libraries,
            **lists,
        )

    def sonames(self, value: object, where: str) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise self.error(where, f"expected a list of sonames, got {value!r}", _SONAME_FIX)
        for index, item in enumerate(value):
            if not isinstance(item, str) or not SONAME.fullmatch(item):
                raise self.error(f"{where}[{index}]", f"not a soname: {item!r}", _SONAME_FIX)
        return _unique(value)

    def modules(self, value: object, where: str) -> tuple[str, ...]:
        fix = "a YAML list of module names, e.g. [yaml, yaml.cyaml], or [] for none"
        if not isinstance(value, list):
            raise self.error(where, f"expected a list of module names, got {value!r}", fix)
        for index, item in enumerate(value):
            if not isinstance(item, str) or not _MODULE.match(item):
                raise self.error(f"{where}[{index}]", f"not a module name: {item!r}", fix)
        return tuple(value)

    def providers_section(self, data: object, where: str) -> dict[str, Providers]:
        result: dict[str, Providers] = {}
        for key, value in self.mapping(data, where, None).items():
            entry = self.mapping(value, f"{where}.{key}", _PROVIDER_KEYS)
            if not entry:
                raise self.error(f"{where}.{key}", "names no package", "e.g. {apt: [x], apk: [y]}")
            result[key] = Providers(
                apt=self.names(entry.get("apt", []), f"{where}.{key}.apt"),
                apk=self.names(entry.get("apk", []), f"{where}.{key}.apk"),
            )
        return result

    def mapping(self, data: object, where: str, allowed: tuple[str, ...] | None) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise self.error(where or "top level", "expected a mapping of keys", "see the schema")
        for key in data:
            if not isinstance(key, str):
                raise self.error(where or "top level", f"key {key!r} is not a string", "quote it")
            if allowed is not None and key not in allowed:
                raise self.unknown_key(where, key, allowed)
        return dict(data)

    def names(self, value: object, where: str) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise self.error(where, f"expected a list of package names, got {value!r}", _LIST_FIX)
        for index, item in enumerate(value):
            if not isinstance(item, str) or not item or item.split() != [item]:
                raise self.error(
                    f"{where}[{index}]", f"expected one package name, got {item!r}", _LIST_FIX
                )
        return tuple(value)

    def flag(self, value: object, where: str) -> bool:
        if not isinstance(value, bool):
            raise self.error(where, f"expected true or false, got {value!r}", "true")
        return value

    def text(self, value: object, where: str) -> str:
        if not isinstance(value, str):
            raise self.error(where, f"expected text, got {value!r}", "a sentence")
        return value.strip()

    def unknown_key(self, where: str, key: str, allowed: Iterable[str]) -> ConfigError:
        known = sorted(allowed)
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"did you mean `{close[0]}`?" if close else f"known keys here: {', '.join(known)}"
        return ConfigError(f"{self.source}: {_join(where, key)}: unknown key", hint=hint)

    def error(self, where: str, problem: str, fix: str) -> ConfigError:
        return ConfigError(f"{self.source}: {where}: {problem}", hint=fix)


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))
