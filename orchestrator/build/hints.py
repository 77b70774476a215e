"""What a failed build log suggests is missing, and the wheelhouse.yaml lines that add it.

Most failed source builds on a Pi lack a header, a ``-config`` program, a pkg-config
module, a compiler or Rust, not the build itself. :func:`suggest` recognises the messages
compilers, linkers, pkg-config, meson, setuptools-rust, maturin, pip and a few popular
``setup.py`` scripts print for those, and maps the missing thing to the apt or apk
package that ships it through the knowledge file (:mod:`orchestrator.knowledge`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name

from orchestrator.config import PackageManager
from orchestrator.knowledge import Knowledge, Providers, load_knowledge

_DEBIAN_FILES = "packages.debian.org (search the contents of packages)"
_ALPINE_FILES = "pkgs.alpinelinux.org/contents"
_COMPILER_LANGUAGES = {"cc": "C", "gcc": "C", "c++": "C++", "g++": "C++", "gfortran": "Fortran"}
#: gcc's drivers run one compiler proper per language; without it: ``cannot execute 'cc1plus'``.
_COMPILER_PROPER = {"cc1": "gcc", "cc1plus": "g++", "f951": "gfortran"}
_RUST_COMMANDS = frozenset({"cargo", "rustc"})


@dataclass(frozen=True, kw_only=True)
class Hint:
    """What is missing, the system packages that provide it, and the config that adds them."""

    problem: str
    packages: tuple[str, ...]
    #: wheelhouse.yaml lines, or ``#`` comment lines when no ``packages:`` entry can help.
    snippet: str


@dataclass(frozen=True, kw_only=True)
class _Context:
    name: NormalizedName
    manager: PackageManager
    knowledge: Knowledge
    cross: bool = False


_Handler = Callable[[re.Match[str], _Context], Hint | None]


@dataclass(frozen=True)
class _Rule:
    pattern: re.Pattern[str]
    handle: _Handler
    #: False for messages that probes also print on the way to a successful build.
    definite: bool = True
    #: Text the message always contains: without it the (slower) pattern is skipped.
    needle: str = ""


def suggest(
    log: str,
    name: NormalizedName,
    manager: PackageManager,
    *,
    knowledge: Knowledge | None = None,
    cross: bool = False,
) -> Hint | None:
    """The first thing ``log`` shows missing, or ``None`` when nothing is recognised.

    Definite errors win over probe messages (``Package x was not found in the pkg-config
    search path`` also precedes builds that fall back and go on); among each, the earliest
    in the log wins, since the first failure usually stops the build.

    ``knowledge`` should be what the build installed from: the packaged file with the
    wheelhouse.yaml ``packages:`` overrides (the default is the packaged file alone). The
    snippet repeats the packages already listed for ``name``, because a user list replaces
    the file's list rather than adding to it. ``cross``: the log is a cross build's, whose
    build machine has only the target's cross compilers.
    """
    context = _Context(
        name=name,
        manager=manager,
        knowledge=knowledge if knowledge is not None else load_knowledge(),
        cross=cross,
    )
    for *_rank, match, rule in sorted(_matches(log), key=lambda found: found[:3]):
        hint = rule.handle(match, context)
        if hint is not None:
            return hint
    return None


def _matches(log: str) -> Iterator[tuple[int, int, int, re.Match[str], _Rule]]:
    for order, rule in enumerate(_RULES):
        if rule.needle not in log:
            continue
        for match in rule.pattern.finditer(log):
            yield (0 if rule.definite else 1), match.start(), order, match, rule


# --- handlers ------------------------------------------------------------------------------


def _missing_header(match: re.Match[str], ctx: _Context) -> Hint:
    header = match["quoted"] or match["plain"]
    need = f"the C header {header} is missing"
    found = ctx.knowledge.header(header)
    if found is None:
        return _unknown(ctx, need, f"the -dev package that ships {header}")
    return _install(ctx, need, header, [found])


def _missing_command(match: re.Match[str], ctx: _Context) -> Hint | None:
    return _command_hint(ctx, _command_name(match[1]), known_only=False)


def _missing_known_command(match: re.Match[str], ctx: _Context) -> Hint | None:
    """Python's ``No such file or directory: 'x'`` names files too: only known programs."""
    return _command_hint(ctx, _command_name(match[1]), known_only=True)


def _missing_c_compiler(_match: re.Match[str], ctx: _Context) -> Hint | None:
    return _command_hint(ctx, "gcc", known_only=False)


def _missing_cxx_compiler(_match: re.Match[str], ctx: _Context) -> Hint | None:
    return _command_hint(ctx, "g++", known_only=False)


def _missing_compiler_proper(match: re.Match[str], ctx: _Context) -> Hint | None:
    return _command_hint(ctx, _COMPILER_PROPER[match[1]], known_only=False)


def _compiler_cannot_link(match: re.Match[str], ctx: _Context) -> Hint | None:
    return _command_hint(ctx, "g++" if match[1] else "gcc", known_only=False)


def _missing_patch(_match: re.Match[str], ctx: _Context) -> Hint | None:
    return _command_hint(ctx, "patch", known_only=False)


def _missing_fortran_compiler(_match: re.Match[str], ctx: _Context) -> Hint | None:
    return _command_hint(ctx, "gfortran", known_only=False)


def _missing_pkg_config(_match: re.Match[str], ctx: _Context) -> Hint | None:
    return _command_hint(ctx, "pkg-config", known_only=False)


def _command_hint(ctx: _Context, command: str, *, known_only: bool) -> Hint | None:
    if command in _RUST_COMMANDS:
        return _missing_rust(None, ctx)
    language = _COMPILER_LANGUAGES.get(command)
    if language is not None and ctx.cross and ctx.manager != "none":
        return _cross_compiler(ctx, command)
    if language is not None:
        need = f"the build needs a {language} compiler ({command}) and the image has none"
    else:
        need = f"the build runs `{command}`, which is not installed"
    found = ctx.knowledge.commands.get(command)
    if found is None:
        return None if known_only else _unknown(ctx, need, f"the package that ships {command}")
    return _install(ctx, need, f"`{command}`", [found])


def _cross_compiler(ctx: _Context, command: str) -> Hint:
    variable = "CXX" if command in ("g++", "c++") else "FC" if command == "gfortran" else "CC"
    problem = (
        f"{ctx.name}: the cross build ran a plain `{command}`, and the build machine has only "
        f"the target's cross compilers (${variable}): a build or before_build step that "
        f"compiles with `{command}` must use ${variable}, or the package must be built "
        "under QEMU"
    )
    snippet = f"packages:\n  {ctx.name}:\n    build_mode: emulate"
    return Hint(problem=problem, packages=(), snippet=snippet)


def _missing_module(match: re.Match[str], ctx: _Context) -> Hint:
    return _module_hint(ctx, match[1])


def _mysqlclient_module(_match: re.Match[str], ctx: _Context) -> Hint:
    return _module_hint(ctx, "mysqlclient")


def _module_hint(ctx: _Context, module: str) -> Hint:
    need = f"pkg-config cannot find the module {module}"
    found = ctx.knowledge.pkg_config.get(module.lower())
    if found is None:
        return _unknown(ctx, need, f"the -dev package that ships {module}.pc")
    return _install(ctx, need, f"{module}.pc", [found])


def _missing_library(match: re.Match[str], ctx: _Context) -> Hint:
    library = match[1]
    return _library_hint(ctx, [library], f"the linker cannot find the library -l{library}")


def _pillow_library(match: re.Match[str], ctx: _Context) -> Hint:
    library = match[1]
    return _library_hint(ctx, [library], f"the {library} headers or library files are missing")


def _libxml2_and_libxslt(_match: re.Match[str], ctx: _Context) -> Hint:
    need = "the libxml2 and libxslt development files are missing"
    return _library_hint(ctx, ["xml2", "xslt"], need)


def _library_hint(ctx: _Context, libraries: Sequence[str], need: str) -> Hint:
    found = [ctx.knowledge.libraries.get(library) for library in libraries]
    known = [providers for providers in found if providers is not None]
    if not known:
        return _unknown(ctx, need, "the -dev package that ships it")
    return _install(ctx, need, " and ".join(f"lib{library}" for library in libraries), known)


def _missing_rust(_match: re.Match[str] | None, ctx: _Context) -> Hint:
    toolchain = ctx.knowledge.rust_toolchain
    found = Providers(apt=toolchain.get("apt", ()), apk=toolchain.get("apk", ()))
    need = "the build needs a Rust toolchain (cargo and rustc) and the image has none"
    return _install(ctx, need, "cargo and rustc", [found])


def _rust_too_old(match: re.Match[str], ctx: _Context) -> Hint:
    needed, have = match["needed"], match["have"]
    problem = (
        f"{ctx.name}: the image's Rust is too old: the build needs rustc {needed}, "
        f"the image has {have}. No system package of this image fixes that."
    )
    snippet = _comments(
        f"No packages: entry fixes this: rustc {have} is older than the {needed} it needs.",
        "Use a base_image with a newer Rust (Debian bookworm has 1.63, trixie 1.85),",
        f"or pin an older release of {ctx.name} that builds with rustc {have}.",
    )
    return Hint(problem=problem, packages=(), snippet=snippet)


def _missing_build_requirement(match: re.Match[str], ctx: _Context) -> Hint:
    requirement = _requirement_name(match[1])
    found = ctx.knowledge.build_requirements.get(requirement)
    if found is not None:
        need = (
            f"the build backend asked for the Python package {requirement}, which is "
            "not available offline; it asks only when the tool is not installed"
        )
        return _install(ctx, need, requirement, [found])
    problem = (
        f"{ctx.name}: the build asked for the Python package {requirement}, which was not "
        "fetched for the offline build. It is a build requirement, not a system package."
    )
    snippet = _comments(
        f"{requirement} is a Python build requirement: no packages: entry installs it.",
        "The build backend asked for it while building (it is not in the sdist's",
        "build-system.requires), so wheelhouse did not fetch it for the offline build.",
    )
    return Hint(problem=problem, packages=(), snippet=snippet)


# --- hints -----------------------------------------------------------------------------------


def _install(ctx: _Context, need: str, what: str, found: Sequence[Providers]) -> Hint:
    """The hint that installs ``found`` for the target's package manager."""
    if ctx.manager == "none":
        return _image_must_provide(ctx, need, what, found)
    missing = _unique(p for providers in found for p in providers.for_manager(ctx.manager))
    if not missing:
        need = f"{need} ({ctx.manager} has no known package for it)"
        return _unknown(ctx, need, f"the package that ships {what}")
    names = ", ".join(missing)
    installed = {
        *ctx.knowledge.toolchain_for(ctx.manager),
        *ctx.knowledge.build_packages(ctx.name, ctx.manager),
    }
    if installed.issuperset(missing):
        problem = (
            f"{ctx.name}: {need}, yet wheelhouse already installs {names} ({ctx.manager}) "
            f"for this build: check that the toolchain stage installed {_them(missing)} and "
            f"that the base image's package sources carry {_them(missing)}"
        )
        return Hint(problem=problem, packages=missing, snippet="")
    listed = ctx.knowledge.packages.get(ctx.name)
    current = listed.build(ctx.manager) if listed is not None else ()
    problem = f"{ctx.name}: {need}; {names} ({ctx.manager}) provide{_s(missing)} it"
    return Hint(
        problem=problem,
        packages=missing,
        snippet=_snippet(ctx.name, ctx.manager, _unique((*current, *missing))),
    )


def _image_must_provide(ctx: _Context, need: str, what: str, found: Sequence[Providers]) -> Hint:
    debian = _unique(p for providers in found for p in providers.apt)
    alpine = _unique(p for providers in found for p in providers.apk)
    where = [f"Debian: {' '.join(debian)}"] if debian else []
    where += [f"Alpine: {' '.join(alpine)}"] if alpine else []
    problem = (
        f"{ctx.name}: {need}. This target's package_manager is none, so wheelhouse installs "
        "no system packages: its base_image must provide it"
    )
    snippet = _comments(
        "package_manager: none -- wheelhouse installs no system packages for this target.",
        f"Build its base_image with {what} ({'; '.join(where)}),",
        "or set package_manager: apt or apk on the target so wheelhouse can add it.",
    )
    return Hint(problem=problem, packages=(), snippet=snippet)


def _unknown(ctx: _Context, need: str, what: str) -> Hint:
    problem = (
        f"{ctx.name}: {need}. No package that provides it is known: find {what} "
        f"({_DEBIAN_FILES}; {_ALPINE_FILES}) and list it under packages: in wheelhouse.yaml"
    )
    return Hint(problem=problem, packages=(), snippet="")


def _snippet(name: NormalizedName, manager: PackageManager, packages: Sequence[str]) -> str:
    return f"packages:\n  {name}:\n    {manager}: [{', '.join(packages)}]"


def _comments(*lines: str) -> str:
    return "\n".join(f"# {line}" for line in lines)


# --- names -------------------------------------------------------------------------------------

_TOOL_SUFFIX = re.compile(r"(?:[\w.]+-){2,}(?P<tool>gcc|g\+\+|cc|c\+\+|gfortran)")
_TOOL_VERSION = re.compile(r"(?P<tool>gcc|g\+\+|gfortran)-\d+")


def _command_name(raw: str) -> str:
    """``/usr/bin/x86_64-linux-gnu-gcc`` and ``gcc-12`` are gcc for what to install."""
    base = raw.rsplit("/", 1)[-1]
    for pattern in (_TOOL_SUFFIX, _TOOL_VERSION):
        match = pattern.fullmatch(base)
        if match:
            return match["tool"]
    return base


def _requirement_name(text: str) -> str:
    try:
        return canonicalize_name(Requirement(text).name)
    except InvalidRequirement:
        return canonicalize_name(re.split(r"[^\w.-]", text, maxsplit=1)[0])


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _s(items: Sequence[str]) -> str:
    return "s" if len(items) == 1 else ""


def _them(items: Sequence[str]) -> str:
    return "it" if len(items) == 1 else "them"


# --- the messages ------------------------------------------------------------------------------

# Bounded, so a huge token in a log cannot make a pattern backtrack for long.
_NAME = r"[\w.+-]{1,100}"
_PATH = r"[\w./+-]{1,300}"


def _rule(pattern: str, handle: _Handler, *, definite: bool = True, needle: str = "") -> _Rule:
    return _Rule(re.compile(pattern), handle, definite, needle)


_RULES: tuple[_Rule, ...] = (
    # gcc: "x.c:1:10: fatal error: libpq-fe.h: No such file or directory" (or translated);
    # clang: "fatal error: 'libpq-fe.h' file not found".
    _rule(
        rf"fatal error: (?:'(?P<quoted>{_PATH})' file not found|(?P<plain>{_PATH}\.h\w*): )",
        _missing_header,
    ),
    # psycopg2 "Error: pg_config executable not found."; mysqlclient < 2.2
    # "OSError: mysql_config not found".
    _rule(
        rf"\b({_NAME}[_-]config)(?: executable)? not found", _missing_command, needle="not found"
    ),
    # sh, dash, busybox and bash: "/bin/sh: 1: xslt-config: not found",
    # "bash: line 1: cargo: command not found"; make: "make: cc: No such file or directory".
    _rule(
        rf"\b(?:ba|da)?sh: (?:\d+: |line \d+: )?({_NAME}): (?:command )?not found",
        _missing_command,
        needle="not found",
    ),
    _rule(rf"\bmake: ({_NAME}): No such file", _missing_command, needle="make: "),
    # distutils: "unable to execute 'gcc': No such file or directory"; setuptools:
    # "error: command 'gcc' failed: No such file or directory"; cargo "linker `cc` not found".
    _rule(rf"unable to execute '?({_PATH})'?: No such file or directory", _missing_command),
    _rule(rf"error: command '({_PATH})' failed: No such file or directory", _missing_command),
    _rule(rf"error: linker `({_PATH})` not found", _missing_command),
    # meson: "ERROR: Unknown compiler(s): [['cc'], ['gcc'], ['clang'], ...]".
    _rule(rf"Unknown compilers?\(s\): \[\['({_NAME})'", _missing_command),
    # gcc with a C++ source and no g++: "gcc: fatal error: cannot execute 'cc1plus':
    # execvp: No such file or directory".
    _rule(r"cannot execute '(cc1|cc1plus|f951)'", _missing_compiler_proper),
    # autoconf: "configure: error: C++ compiler cannot create executables" (no libc6-dev,
    # libstdc++ or the compiler itself).
    _rule(r"\bC(\+\+)? compiler cannot create executables", _compiler_cannot_link),
    # build-wheel.sh, for a recipe's patches: "the image has no `patch` command".
    _rule(r"the image has no `patch` command", _missing_patch),
    _rule(r"you need a C compiler", _missing_c_compiler),
    _rule(r"no acceptable C compiler found", _missing_c_compiler),
    _rule(r"No CMAKE_C_COMPILER could be found", _missing_c_compiler),
    _rule(r"No CMAKE_CXX_COMPILER could be found", _missing_cxx_compiler),
    _rule(r"no acceptable C\+\+ compiler", _missing_cxx_compiler),
    _rule(r"has Fortran sources but no Fortran compiler found", _missing_fortran_compiler),
    _rule(r"Did not find pkg-config by name", _missing_pkg_config),
    _rule(r"Found pkg-config: NO", _missing_pkg_config),
    # Python's FileNotFoundError: "[Errno 2] No such file or directory: 'mysql_config'".
    _rule(rf"No such file or directory: '({_NAME})'", _missing_known_command),
    # setuptools-rust, maturin, and maturin's offline attempt to download Rust.
    _rule(r"can't find Rust compiler", _missing_rust),
    _rule(r"Can not find Rust compiler", _missing_rust),
    _rule(r"Cargo, the Rust package manager, is not installed", _missing_rust),
    _rule(r"rustc, the rust compiler is not installed", _missing_rust),
    _rule(r"Rust not found, installing into a temporary directory", _missing_rust),
    # cargo: "requires rustc 1.65 or newer, while the currently active rustc version is
    # 1.63.0"; setuptools-rust: "Rust 1.48.0 does not match extension requirement >=1.56.0".
    _rule(
        r"requires rustc (?P<needed>\d[\w.]*) or newer, while the currently active rustc "
        r"version is (?P<have>\d[\w.]*)",
        _rust_too_old,
    ),
    _rule(
        r"Rust (?P<have>\d[\w.]*) does not match extension requirement (?P<needed>[^\s]+)",
        _rust_too_old,
    ),
    # meson: 'ERROR: Dependency "cairo" not found, tried pkgconfig' and
    # "ERROR: Dependency 'girepository-2.0' is required but not found."
    _rule(rf"Dependency [\"']?({_NAME})[\"']? (?:is required but )?not found", _missing_module),
    # mysqlclient >= 2.2: "Exception: Can not find valid pkg-config name."
    _rule(r"Can not find valid pkg-config name", _mysqlclient_module),
    _rule(rf"cannot find -l({_NAME})", _missing_library),
    # Pillow: "The headers or library files could not be found for jpeg,"
    _rule(rf"The headers or library files could not be found for ({_NAME}),", _pillow_library),
    # lxml: "Error: Please make sure the libxml2 and libxslt development packages are
    # installed." and "** make sure the development packages of libxml2 and libxslt are
    # installed **"
    _rule(
        r"make sure the libxml2 and libxslt development packages are installed",
        _libxml2_and_libxslt,
    ),
    _rule(
        r"make sure the development packages of libxml2 and libxslt are installed",
        _libxml2_and_libxslt,
    ),
    # pip, offline: "ERROR: Could not find a version that satisfies the requirement
    # setuptools>=40.8.0 (from versions: none)"
    _rule(
        r"Could not find a version that satisfies the requirement (\S+)",
        _missing_build_requirement,
    ),
    # pkg-config: "Package libffi was not found in the pkg-config search path.";
    # pkgconf: "Package 'libffi', required by 'virtual:world', not found";
    # "No package 'libffi' found". Probes print these before falling back, too.
    _rule(
        rf"Package '?({_NAME})'?,? (?:was not found in the pkg-config search path|"
        r"required by '[^']*', not found)",
        _missing_module,
        definite=False,
    ),
    _rule(rf"No package '({_NAME})' found", _missing_module, definite=False),
)
