"""wheelhouse.yaml: read, validate by hand into frozen data, and select targets.

Every error names the file, the field path (``targets[1].base_image``) and the fix;
an unknown key gets a "did you mean".
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import yaml
from packaging.utils import NormalizedName, canonicalize_name

from orchestrator.errors import ConfigError, TargetError
from orchestrator.paths import read_text
from orchestrator.targets import Arch, Target
from orchestrator.urls import url_problem

PackageManager = Literal["apt", "apk", "none"]
ResolveMode = Literal["auto", "always", "never"]
#: How a foreign-architecture wheel is built: ``auto`` cross-compiles where that is safe
#: (Debian glibc targets) and falls back to QEMU; ``cross`` and ``emulate`` force one.
BuildMode = Literal["auto", "cross", "emulate"]
BUILD_MODES: tuple[BuildMode, ...] = ("auto", "cross", "emulate")

DEFAULT_CONFIG = Path("wheelhouse.yaml")
#: How long a recorded resolution of build requirements is reused (``resolutions``).
DEFAULT_RESOLUTION_TTL = 24 * 60 * 60

# The one place that lists every key wheelhouse.yaml may hold. A nested dict is a
# mapping section; a string describes the expected value (used in messages).
SCHEMA: dict[str, Any] = {
    "requirements": "path to requirements.txt or uv.lock",
    "output": "directory that receives wheelhouse/<target-id>/",
    "cache_dir": "directory for downloads, built wheels and HTTP cache",
    "resolve": "auto | always | never",
    "index": {"url": "index URL", "extra_urls": "list of index URLs"},
    "build": {
        "force_build": "list of package names",
        "timeout": "seconds per package build",
        "builder": "buildx builder name",
        "resolution_ttl": "seconds a recorded resolution of build requirements is reused "
        f"(default {DEFAULT_RESOLUTION_TTL}; 0: resolve them on every run)",
        "secret_env": "list of environment variable names whose values every package "
        "build gets as BuildKit secrets (never in the Dockerfile, cache key, logs or "
        "manifest)",
    },
    "targets": [
        {
            "id": "target id, e.g. cp312-musllinux_1_2_aarch64",
            "base_image": "image the builder stage starts FROM",
            "runtime_image": "image verify installs into (default: base_image)",
            "package_manager": "apt | apk | none",
            "system_packages": "list of extra system packages for the toolchain",
            "python": "python command inside the image",
            "build_mode": "auto | cross | emulate (default auto: cross first, QEMU fallback)",
            "cross_image": "the base image for the build machine's platform, same Debian "
            "suite and Python (cross builds; default: base_image; a musl target without a "
            "package manager needs one with the same musl and apt)",
            "python_full_version": "the image's Python, e.g. 3.11.2, for markers when no "
            "engine is asked (default: the image's, learned by build; plan assumes X.Y.0)",
        }
    ],
    "packages": {
        "*": {
            "apt": "list of Debian build packages",
            "apk": "list of Alpine build packages",
            "runtime_apt": "list of Debian runtime packages",
            "runtime_apk": "list of Alpine runtime packages",
            "system_libraries": "list of sonames the runtime image provides (kept out of "
            "the wheel by auditwheel repair --exclude; needs runtime_apt/runtime_apk)",
            "force_build": "true | false",
            "verify_import": "true | false (false: verify installs but does not import it)",
            "build_mode": "auto | cross | emulate (overrides the target's)",
            "env": "mapping of environment variables for the build (${TARGET_ARCH}, "
            "${TARGET_ID}, ${PLATFORM_TAG}, ${PYTHON_VERSION} are replaced)",
            "config_settings": "mapping handed to the build backend (pip wheel "
            "--config-settings KEY=VALUE)",
            "patches": "list of patch files (relative to wheelhouse.yaml), applied in order "
            "with patch -p1 to the unpacked sdist",
            "before_build": "shell command run in the unpacked sdist, offline, before pip wheel",
            "test": "shell command verify runs after the install (the venv's python first on PATH)",
            "imports": "list of modules verify imports (default: the top-level names)",
        }
    },
}


@dataclass(frozen=True, kw_only=True)
class TargetConfig:
    target: Target
    base_image: str
    runtime_image: str
    package_manager: PackageManager
    system_packages: tuple[str, ...] = ()
    python: str = "python3"
    build_mode: BuildMode = "auto"
    #: The build machine's image for cross stages; ``None``: ``base_image`` (multi-platform).
    cross_image: str | None = None

    @property
    def cross_base_image(self) -> str:
        return self.cross_image or self.base_image

    @classmethod
    def default(cls, target: Target) -> TargetConfig:
        image = target.default_base_image
        return cls(
            target=target,
            base_image=image,
            runtime_image=image,
            package_manager=_guess_package_manager(image),
        )


@dataclass(frozen=True, kw_only=True)
class Recipe:
    """How one package is built and checked beyond its system packages."""

    #: Environment of the build, in order; values may name ``${TARGET_ARCH}`` and friends.
    env: tuple[tuple[str, str], ...] = ()
    #: ``pip wheel --config-settings KEY=VALUE``, in order.
    config_settings: tuple[tuple[str, str], ...] = ()
    #: Patch files (absolute), applied in order with ``patch -p1``.
    patches: tuple[Path, ...] = ()
    before_build: str | None = None
    #: Run by verify after the install; ``None``: no test.
    test: str | None = None
    #: The modules verify imports; ``None``: the distribution's top-level names.
    imports: tuple[str, ...] | None = None

    @property
    def builds_differently(self) -> bool:
        """Whether it changes the build (``test`` and ``imports`` only change verify)."""
        return bool(self.env or self.config_settings or self.patches or self.before_build)

    @property
    def empty(self) -> bool:
        return not self.builds_differently and self.test is None and self.imports is None


@dataclass(frozen=True, kw_only=True)
class PackageConfig:
    apt: tuple[str, ...] = ()
    apk: tuple[str, ...] = ()
    runtime_apt: tuple[str, ...] = ()
    runtime_apk: tuple[str, ...] = ()
    #: Sonames the runtime image provides (the knowledge file's ``system_libraries``).
    system_libraries: tuple[str, ...] = ()
    force_build: bool = False
    #: False for modules that refuse to import off their hardware (RPi.GPIO off a Pi).
    verify_import: bool = True
    #: ``None``: the target's ``build_mode``.
    build_mode: BuildMode | None = None
    recipe: Recipe = field(default_factory=Recipe)


@dataclass(frozen=True, kw_only=True)
class Config:
    path: Path | None
    requirements: Path | None
    output: Path
    cache_dir: Path | None = None
    resolve: ResolveMode = "auto"
    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    targets: tuple[TargetConfig, ...] = ()
    force_build: frozenset[NormalizedName] = frozenset()
    build_timeout: int = 1800
    builder: str | None = None
    packages: Mapping[NormalizedName, PackageConfig] = field(default_factory=dict)
    #: Seconds a recorded resolution of build requirements is reused; 0: never.
    resolution_ttl: int = DEFAULT_RESOLUTION_TTL
    #: ``build.secret_env``: names of the host's environment variables handed to every
    #: package build as BuildKit secrets (``build.secrets``).
    secret_env: tuple[str, ...] = ()

    def target_config(self, target: Target) -> TargetConfig:
        for tc in self.targets:
            if tc.target == target:
                return tc
        return TargetConfig.default(target)

    def select_targets(
        self, ids: Sequence[str] = (), arches: Sequence[str] = ()
    ) -> tuple[TargetConfig, ...]:
        """``--target`` ids (configured or not) and ``--arch`` filters, in that order."""
        chosen = [self.target_config(Target.parse(i)) for i in ids] if ids else list(self.targets)
        if not chosen:
            raise TargetError(
                "no targets: wheelhouse.yaml lists none and no --target was given",
                hint="add a `targets:` list to wheelhouse.yaml or pass "
                "--target cp312-musllinux_1_2_aarch64",
            )
        if arches:
            wanted = {Arch.parse(a) for a in arches}
            kept = [tc for tc in chosen if tc.target.arch in wanted]
            if not kept:
                have = ", ".join(tc.target.id for tc in chosen)
                names = ", ".join(sorted(a.docker_arch for a in wanted))
                raise TargetError(
                    f"no target for --arch {names} (targets: {have})",
                    hint="add a target of that architecture to wheelhouse.yaml",
                )
            chosen = kept
        return tuple(dict.fromkeys(chosen))


def load_config(path: Path | None) -> Config:
    """Load ``path``; ``None`` means ./wheelhouse.yaml if present, else an empty config."""
    if path is None:
        if not DEFAULT_CONFIG.exists():
            return Config(path=None, requirements=None, output=Path("wheelhouse"))
        path = DEFAULT_CONFIG
    text = read_text(
        path,
        what="config file",
        error=ConfigError,
        hint="create it (see the README's wheelhouse.yaml) or pass --config PATH",
    )
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ConfigError(f"{where}: not valid YAML: {exc}", hint="fix the YAML syntax") from None
    return parse_config(data if data is not None else {}, path)


def parse_config(data: object, path: Path) -> Config:
    top = _mapping(data, path, "", SCHEMA)
    base = path.parent
    index = _mapping(top.get("index", {}), path, "index", SCHEMA["index"])
    build = _mapping(top.get("build", {}), path, "build", SCHEMA["build"])
    packages = _packages(top.get("packages", {}), path)
    force = {
        canonicalize_name(n)
        for n in _strings(build.get("force_build", []), path, "build.force_build")
    }
    force |= {name for name, pc in packages.items() if pc.force_build}
    requirements = top.get("requirements")
    cache_dir = top.get("cache_dir")
    return Config(
        path=path,
        requirements=_path(base, requirements, path, "requirements") if requirements else None,
        output=_path(base, top.get("output", "wheelhouse"), path, "output"),
        cache_dir=_path(base, cache_dir, path, "cache_dir") if cache_dir else None,
        resolve=cast(
            ResolveMode,
            _choice(top.get("resolve", "auto"), path, "resolve", ("auto", "always", "never")),
        ),
        index_url=_url(_string(index["url"], path, "index.url"), path, "index.url")
        if "url" in index
        else None,
        extra_index_urls=tuple(
            _url(url, path, f"index.extra_urls[{i}]")
            for i, url in enumerate(_strings(index.get("extra_urls", []), path, "index.extra_urls"))
        ),
        targets=_targets(top.get("targets", []), path),
        force_build=frozenset(force),
        build_timeout=_positive_int(build.get("timeout", 1800), path, "build.timeout"),
        builder=_string(build["builder"], path, "build.builder") if "builder" in build else None,
        packages=packages,
        resolution_ttl=_seconds(
            build.get("resolution_ttl", DEFAULT_RESOLUTION_TTL), path, "build.resolution_ttl"
        ),
        secret_env=_secret_env(build.get("secret_env", []), path),
    )


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _secret_env(value: object, path: Path) -> tuple[str, ...]:
    names = _strings(value, path, "build.secret_env")
    for i, name in enumerate(names):
        if not _ENV_NAME.match(name):
            raise _field_error(
                path,
                f"build.secret_env[{i}]",
                f"{name!r} is not an environment variable name",
                "list names, not values: secret_env: [PRIVATE_TOKEN] (the value stays in "
                "the environment wheelhouse runs in)",
            )
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise _field_error(
            path, "build.secret_env", f"listed twice: {', '.join(dupes)}", "list each name once"
        )
    return tuple(names)


def _targets(data: object, path: Path) -> tuple[TargetConfig, ...]:
    if not isinstance(data, list):
        raise _field_error(
            path,
            "targets",
            "expected a list of targets",
            "targets:\n  - id: cp312-musllinux_1_2_aarch64",
        )
    result: list[TargetConfig] = []
    for i, item in enumerate(data):
        where = f"targets[{i}]"
        entry = _mapping(
            {"id": item} if isinstance(item, str) else item, path, where, SCHEMA["targets"][0]
        )
        if "id" not in entry:
            raise _field_error(path, where, "missing `id`", "e.g. id: cp312-musllinux_1_2_aarch64")
        try:
            target = Target.parse(_string(entry["id"], path, f"{where}.id"))
        except TargetError as exc:
            raise ConfigError(f"{path}: {where}.id: {exc.message}", hint=exc.hint) from None
        if "python_full_version" in entry:
            target = _full_version(entry["python_full_version"], path, where, target)
        default = TargetConfig.default(target)
        base_image = _string(
            entry.get("base_image", default.base_image), path, f"{where}.base_image"
        )
        manager = entry.get("package_manager", _guess_package_manager(base_image))
        result.append(
            TargetConfig(
                target=target,
                base_image=base_image,
                runtime_image=_string(
                    entry.get("runtime_image", base_image), path, f"{where}.runtime_image"
                ),
                package_manager=cast(
                    PackageManager,
                    _choice(manager, path, f"{where}.package_manager", ("apt", "apk", "none")),
                ),
                system_packages=_strings(
                    entry.get("system_packages", []), path, f"{where}.system_packages"
                ),
                python=_string(entry.get("python", "python3"), path, f"{where}.python"),
                build_mode=_build_mode(entry, path, where, target, manager),
                cross_image=(
                    _string(entry["cross_image"], path, f"{where}.cross_image")
                    if "cross_image" in entry
                    else None
                ),
            )
        )
    ids = [tc.target.id for tc in result]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise _field_error(
            path, "targets", f"target listed twice: {', '.join(dupes)}", "list each target once"
        )
    return tuple(result)


def _packages(data: object, path: Path) -> dict[NormalizedName, PackageConfig]:
    section = _mapping(data, path, "packages", None)
    result: dict[NormalizedName, PackageConfig] = {}
    for name, value in section.items():
        where = f"packages.{name}"
        entry = _mapping(value, path, where, SCHEMA["packages"]["*"])
        lists = {
            key: _strings(entry.get(key, []), path, f"{where}.{key}")
            for key in ("apt", "apk", "runtime_apt", "runtime_apk", "system_libraries")
        }
        _check_names(lists, path, where)
        result[canonicalize_name(str(name))] = PackageConfig(
            force_build=_bool(entry.get("force_build", False), path, f"{where}.force_build"),
            verify_import=_bool(entry.get("verify_import", True), path, f"{where}.verify_import"),
            build_mode=(
                cast(
                    BuildMode,
                    _choice(entry["build_mode"], path, f"{where}.build_mode", BUILD_MODES),
                )
                if "build_mode" in entry
                else None
            ),
            recipe=_recipe(entry, path, where),
            **lists,
        )
    return result


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _recipe(entry: Mapping[str, Any], path: Path, where: str) -> Recipe:
    base = path.parent
    patches: list[Path] = []
    for i, item in enumerate(_strings(entry.get("patches", []), path, f"{where}.patches")):
        patch = _path(base, item, path, f"{where}.patches[{i}]")
        if not patch.is_file():
            raise _field_error(
                path,
                f"{where}.patches[{i}]",
                f"patch file not found: {patch}",
                "write the path relative to wheelhouse.yaml (e.g. patches/fix-musl.patch)",
            )
        patches.append(patch)
    imports = _strings(entry["imports"], path, f"{where}.imports") if "imports" in entry else None
    for i, module in enumerate(imports or ()):
        if not all(part.isidentifier() for part in module.split(".")):
            raise _field_error(
                path,
                f"{where}.imports[{i}]",
                f"{module!r} is not a module name",
                "e.g. imports: [yaml, yaml.cyaml]",
            )
    return Recipe(
        env=_env(entry.get("env", {}), path, f"{where}.env"),
        config_settings=_settings(
            entry.get("config_settings", {}), path, f"{where}.config_settings"
        ),
        patches=tuple(patches),
        before_build=(
            _string(entry["before_build"], path, f"{where}.before_build")
            if "before_build" in entry
            else None
        ),
        test=_string(entry["test"], path, f"{where}.test") if "test" in entry else None,
        imports=imports,
    )


def _env(value: object, path: Path, where: str) -> tuple[tuple[str, str], ...]:
    pairs = _settings(value, path, where)
    for name, _ in pairs:
        if not _ENV_NAME.match(name):
            raise _field_error(
                path,
                f"{where}.{name}",
                f"{name!r} is not an environment variable name",
                "use letters, digits and _ (not first a digit), e.g. CFLAGS",
            )
    return pairs


def _settings(value: object, path: Path, where: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict):
        raise _field_error(
            path,
            where,
            f"expected a mapping of names to strings, got {value!r}",
            f'e.g. {where.rsplit(".", 1)[-1]}:\n  NAME: "value"',
        )
    result: list[tuple[str, str]] = []
    for key, item in value.items():
        if not isinstance(item, str):
            raise _field_error(
                path,
                f"{where}.{key}",
                f"expected a string, got {item!r}",
                f'quote the value: {key}: "{item}"',
            )
        result.append((str(key), item))
    return tuple(result)


def _full_version(value: object, path: Path, where: str, target: Target) -> Target:
    text = _string(value, path, f"{where}.python_full_version")
    try:
        return target.with_full_version(text)
    except TargetError as exc:
        raise ConfigError(
            f"{path}: {where}.python_full_version: {exc.message}", hint=exc.hint
        ) from None


def _build_mode(
    entry: Mapping[str, Any], path: Path, where: str, target: Target, manager: object
) -> BuildMode:
    mode = cast(
        BuildMode,
        _choice(entry.get("build_mode", "auto"), path, f"{where}.build_mode", BUILD_MODES),
    )
    apt_glibc = manager == "apt" and target.libc == "manylinux"
    musl_own = manager == "none" and target.libc == "musllinux" and "cross_image" in entry
    if mode == "cross" and not (apt_glibc or musl_own):
        raise _field_error(
            path,
            f"{where}.build_mode",
            f"cross needs a Debian (apt) manylinux target, or a musllinux target with "
            f"package_manager none and a cross_image; {target.id} is a {target.libc} target "
            f"with package_manager {manager}",
            "use build_mode: auto (it builds targets that cannot be cross-compiled under "
            "QEMU) or emulate",
        )
    return mode


def _guess_package_manager(image: str) -> PackageManager:
    return "apk" if "alpine" in image.rsplit("/", 1)[-1] else "apt"


def _mapping(
    data: object, path: Path, where: str, schema: Mapping[str, Any] | None
) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise _field_error(
            path,
            where or "top level",
            "expected a mapping of keys",
            "see the README's wheelhouse.yaml",
        )
    if schema is not None:
        for key in data:
            if key not in schema:
                _unknown_key(path, where, str(key), schema)
    return {str(k): v for k, v in data.items()}


def _unknown_key(path: Path, where: str, key: str, schema: Iterable[str]) -> None:
    known = sorted(schema)
    close = difflib.get_close_matches(key, known, n=1)
    field_path = f"{where}.{key}" if where else key
    hint = f"did you mean `{close[0]}`?" if close else f"known keys here: {', '.join(known)}"
    raise ConfigError(f"{path}: {field_path}: unknown key", hint=hint)


def _field_error(path: Path, where: str, problem: str, fix: str) -> ConfigError:
    return ConfigError(f"{path}: {where}: {problem}", hint=fix)


def _string(value: object, path: Path, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _field_error(
            path,
            where,
            f"expected a non-empty string, got {value!r}",
            f"e.g. {where.rsplit('.', 1)[-1]}: ...",
        )
    return value


def _url(value: str, path: Path, where: str) -> str:
    if problem := url_problem(value):
        raise _field_error(path, where, problem, "e.g. url: https://pypi.org/simple")
    return value


def _path(base: Path, value: object, path: Path, where: str) -> Path:
    """Relative to the config file's directory; ``~`` expanded; ``..`` folded for messages."""
    given = Path(_string(value, path, where)).expanduser()
    return Path(os.path.normpath(base / given))


def _check_names(lists: dict[str, tuple[str, ...]], path: Path, where: str) -> None:
    """Runtime packages and sonames end up in the runtime Dockerfile's RUN line."""
    for key, pattern, example in (
        ("runtime_apt", PACKAGE_NAME, "[libasound2]"),
        ("runtime_apk", PACKAGE_NAME, "[alsa-lib]"),
        ("system_libraries", SONAME, "[libasound.so.2], as the extension's NEEDED names it"),
    ):
        for index, name in enumerate(lists[key]):
            if not pattern.fullmatch(name):
                raise _field_error(
                    path,
                    f"{where}.{key}[{index}]",
                    f"not a valid name: {name!r}",
                    f"e.g. {example}",
                )


#: A Debian or Alpine package name (what may stand in a rendered RUN line).
PACKAGE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9+._-]*")
#: A shared library's file name (soname), or an auditwheel ``--exclude`` pattern of one.
SONAME = re.compile(r"^lib[A-Za-z0-9_.+*?-]*\.so(?:\.[A-Za-z0-9_*?]+)*$")


def _strings(value: object, path: Path, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _field_error(
            path,
            where,
            f"expected a list of strings, got {value!r}",
            f"e.g. {where.rsplit('.', 1)[-1]}: [a, b]",
        )
    return tuple(value)


def _bool(value: object, path: Path, where: str) -> bool:
    if not isinstance(value, bool):
        raise _field_error(
            path,
            where,
            f"expected true or false, got {value!r}",
            f"{where.rsplit('.', 1)[-1]}: true",
        )
    return value


def _choice(value: object, path: Path, where: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise _field_error(
            path,
            where,
            f"{value!r} is not one of {', '.join(allowed)}",
            f"use one of: {', '.join(allowed)}",
        )
    return str(value)


def _positive_int(value: object, path: Path, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise _field_error(
            path,
            where,
            f"expected a positive whole number, got {value!r}",
            f"e.g. {where.rsplit('.', 1)[-1]}: 1800",
        )
    return value


def _seconds(value: object, path: Path, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _field_error(
            path,
            where,
            f"expected a whole number of seconds (0 or more), got {value!r}",
            f"e.g. {where.rsplit('.', 1)[-1]}: 3600",
        )
    return value
