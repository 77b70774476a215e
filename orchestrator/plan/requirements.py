"""requirements.txt as pip reads it, parsed into frozen data.

Lines are read the way pip's ``req_file`` reads them: ``\\`` continuations are
joined first, then comments (``#`` at the start or after whitespace) are dropped,
then ``${VAR}`` is expanded from the environment. A line is either a requirement
(optionally followed by ``--hash``) or a line of options (``-r``, ``-c``, ``-i``...).

Requirements wheelhouse cannot plan (VCS, editable, local path, direct URL) are not
errors here: they are kept as ``UnsupportedLine`` so the plan can show them.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, cast
from urllib.parse import unquote

from packaging.markers import InvalidMarker, Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import Specifier, SpecifierSet
from packaging.utils import (
    NormalizedName,
    canonicalize_name,
)
from packaging.version import InvalidVersion, Version

from orchestrator.errors import RequirementsError
from orchestrator.filenames import project_of
from orchestrator.model import Location, Pin
from orchestrator.paths import read_text
from orchestrator.targets import Target
from orchestrator.urls import mask_userinfo, url_path_name, url_problem, url_to_path

__all__ = [
    "FindLinks",
    "RequirementLine",
    "RequirementsFile",
    "SourceKind",
    "SourceLine",
    "UnsupportedLine",
    "is_fully_pinned",
    "parse_requirements",
    "pins_for_target",
]


@dataclass(frozen=True, kw_only=True)
class RequirementLine:
    """One PEP 508 requirement line."""

    requirement: Requirement
    #: sha256 hex digests (lower case) from ``--hash=sha256:...``.
    hashes: frozenset[str]
    #: The file and the line the logical line starts on.
    location: Location
    #: The logical line as written (continuations joined, comment dropped).
    text: str

    @property
    def name(self) -> NormalizedName:
        return canonicalize_name(self.requirement.name)


@dataclass(frozen=True, kw_only=True)
class UnsupportedLine:
    """A requirement wheelhouse cannot plan: VCS, editable, local path or direct URL."""

    location: Location
    text: str
    reason: str
    #: The project name when the line names one (``name @ url``, ``#egg=``, a file name).
    name: NormalizedName | None = None
    marker: Marker | None = None


SourceKind = Literal["url", "archive", "directory", "editable", "git"]


@dataclass(frozen=True, kw_only=True)
class SourceLine:
    """A requirement that names its own source, not an index release: an archive URL
    (``name @ https://.../name-1.0.tar.gz``), a local archive or folder (taken from the
    requirements file's folder), or an editable folder (``-e``: the app itself)."""

    kind: SourceKind
    location: Location
    text: str
    #: The URL (``url``, fragment dropped; ``git``: as written, ``git+...@rev#...``) or the
    #: absolute path (the others).
    target: str
    #: From ``name @``, ``#egg=`` or the archive's file name; ``None`` until prepared.
    name: NormalizedName | None = None
    marker: Marker | None = None
    #: sha256 digests from ``--hash`` and a ``#sha256=`` fragment.
    hashes: frozenset[str] = frozenset()


@dataclass(frozen=True, kw_only=True)
class FindLinks:
    """A ``--find-links`` / ``-f`` line: a folder (relative to the file's own folder, as
    pip takes it) or an HTML page of links, whose files are offered beside the index's."""

    location: Location
    #: As written on the line.
    value: str
    #: The folder, absolute and checked to exist; ``None`` for a URL.
    folder: Path | None = None
    #: The page's URL; ``None`` for a folder.
    url: str | None = None

    @property
    def uv_value(self) -> str:
        """What uv is handed (``--find-links``): an absolute path or the URL."""
        return str(self.folder) if self.folder is not None else str(self.url)


@dataclass(frozen=True, kw_only=True)
class RequirementsFile:
    #: From the file and its ``-r`` includes, in reading order.
    requirements: tuple[RequirementLine, ...]
    #: From ``-c`` / ``--constraint`` includes.
    constraints: tuple[RequirementLine, ...]
    unsupported: tuple[UnsupportedLine, ...]
    #: Requirements with a source of their own (``SourceLine``), in reading order.
    sources: tuple[SourceLine, ...] = ()
    #: The last ``--index-url`` / ``-i`` seen.
    index_url: str | None
    #: ``--extra-index-url`` values in order, without repeats.
    extra_index_urls: tuple[str, ...]
    #: Every file read, the given file first.
    files: tuple[Path, ...]
    #: ``--find-links`` folders and pages in reading order, without repeats.
    find_links: tuple[FindLinks, ...] = ()


# --- reading lines as pip does -------------------------------------------------------

_COMMENT = re.compile(r"(^|\s+)#.*$")
_ENV_VAR = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)\}")


def _logical_lines(lines: Iterable[str]) -> Iterator[tuple[int, str]]:
    """Join ``\\`` continuations; a comment line ends a continuation (pip's join_lines)."""
    start = 0
    pending: list[str] = []
    for number, line in enumerate(lines, start=1):
        is_comment = _COMMENT.match(line) is not None
        if line.endswith("\\") and not is_comment:
            if not pending:
                start = number
            pending.append(line.strip("\\"))
            continue
        if is_comment:
            line = " " + line  # noqa: PLW2901 - so the comment is stripped later, as pip does
        if pending:
            pending.append(line)
            yield start, "".join(pending)
            pending = []
        else:
            yield number, line
    if pending:
        yield start, "".join(pending)


def _expand_env(text: str) -> str:
    """``${VAR}`` (upper case, digits, ``_``) from the environment; unset ones stay as written."""
    return _ENV_VAR.sub(lambda m: os.environ.get(m["name"], m.group(0)), text)


def _split_args_options(line: str) -> tuple[str, str]:
    """The requirement part and the options part: options start at the first ``-`` token."""
    tokens = line.split(" ")
    for index, token in enumerate(tokens):
        if token.startswith("-"):
            return " ".join(tokens[:index]), " ".join(tokens[index:])
    return line, ""


# --- options ------------------------------------------------------------------------

_OptionKind = Literal[
    "requirement",
    "constraint",
    "editable",
    "index_url",
    "extra_index_url",
    "find_links",
    "hash",
    "build_option",
    "ignored_value",
    "ignored_flag",
]

_LONG_OPTIONS: dict[str, _OptionKind] = {
    "--requirement": "requirement",
    "--constraint": "constraint",
    "--editable": "editable",
    "--index-url": "index_url",
    "--extra-index-url": "extra_index_url",
    "--hash": "hash",
    "--config-settings": "build_option",
    "--global-option": "build_option",
    "--find-links": "find_links",
    "--no-binary": "ignored_value",
    "--only-binary": "ignored_value",
    "--trusted-host": "ignored_value",
    "--use-feature": "ignored_value",
    "--prefer-binary": "ignored_flag",
    "--pre": "ignored_flag",
    "--require-hashes": "ignored_flag",
    "--no-index": "ignored_flag",
}
_SHORT_OPTIONS = {
    "-r": "--requirement",
    "-c": "--constraint",
    "-e": "--editable",
    "-i": "--index-url",
    "-f": "--find-links",
    "-C": "--config-settings",
}
_TAKES_NO_VALUE = ("ignored_flag",)


@dataclass(frozen=True, kw_only=True)
class _Option:
    name: str
    kind: _OptionKind
    value: str


def _long_option(given: str) -> str | None:
    """The full option name, accepting a unique prefix as optparse does (``--extra-index``)."""
    if given in _LONG_OPTIONS:
        return given
    matches = [name for name in _LONG_OPTIONS if name.startswith(given)]
    return matches[0] if len(matches) == 1 else None


def _parse_options(text: str, where: _Where) -> list[_Option]:
    try:
        tokens = shlex.split(text)
    except ValueError as exc:
        raise where.error(f"cannot split the options: {exc}", "close the quote") from exc
    options: list[_Option] = []
    while tokens:
        token = tokens.pop(0)
        name, value = _option_name_and_value(token, where)
        kind = _LONG_OPTIONS[name]
        if kind in _TAKES_NO_VALUE:
            if value is not None:
                raise where.error(f"option {name} takes no value", f"write {name} alone")
            options.append(_Option(name=name, kind=kind, value=""))
            continue
        if value is None:
            if not tokens:
                raise where.error(f"option {name} needs a value", f"write {name} VALUE")
            value = tokens.pop(0)
        options.append(_Option(name=name, kind=kind, value=value))
    return options


def _option_name_and_value(token: str, where: _Where) -> tuple[str, str | None]:
    if token.startswith("--"):
        given, equals, value = token.partition("=")
        name = _long_option(given)
        if name is not None:
            return name, value if equals else None
    elif token[:2] in _SHORT_OPTIONS:
        return _SHORT_OPTIONS[token[:2]], token[2:] or None
    known = ", ".join(sorted({*_LONG_OPTIONS, *_SHORT_OPTIONS}))
    raise where.error(
        f"unknown option {token!r}",
        f"wheelhouse reads the options pip accepts in requirements files: {known}",
    )


# --- classifying requirement text -------------------------------------------------

_VCS_PREFIXES = ("git+", "hg+", "svn+", "bzr+")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:(//|/)")
_ARCHIVE_SUFFIXES = (".whl", ".tar.gz", ".tgz", ".tar.bz2", ".tbz", ".tar.xz", ".txz", ".zip")
_EGG = re.compile(r"[#&]egg=(?P<name>[^&\[\s]+)")

_REASONS = {
    "vcs": "VCS requirement: wheelhouse plans index releases only; "
    "publish a release to an index (a private one works) and pin `name==version`",
    "editable": "editable requirement: editable installs are for development; "
    "pin a released version instead",
    "path": "local path requirement: wheelhouse plans index releases only; "
    "publish it to an index or pin a released version",
    "url": "direct URL requirement: wheelhouse plans index releases only; "
    "publish it to an index or pin a released version",
}


def _url_kind(url: str) -> str:
    if url.startswith(_VCS_PREFIXES):
        return "vcs"
    if url.lower().startswith("file:"):
        return "path"
    return "url"


def _name_from_location(location: str) -> NormalizedName | None:
    """A project name from ``#egg=name`` or from a wheel / sdist file name, if any."""
    egg = _EGG.search(location)
    if egg:
        return canonicalize_name(egg["name"])
    return project_of(unquote(url_path_name(location)))


def _looks_like_path(text: str) -> bool:
    if "@" in text:  # `name @ file:///...` is a PEP 508 requirement
        return False
    return (
        text.startswith((".", "/", "~"))
        or "/" in text
        or "\\" in text
        or text.lower().endswith(_ARCHIVE_SUFFIXES)
    )


# --- the parser -----------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class _Where:
    """A logical line being read: its location and its text, for messages."""

    location: Location
    text: str

    def error(self, problem: str, hint: str) -> RequirementsError:
        text = mask_userinfo(f"{self.location}: {self.text}\n  {problem}")
        return RequirementsError(text, hint=hint)


@dataclass(kw_only=True)
class _Reader:
    requirements: list[RequirementLine] = field(default_factory=list)
    constraints: list[RequirementLine] = field(default_factory=list)
    unsupported: list[UnsupportedLine] = field(default_factory=list)
    sources: list[SourceLine] = field(default_factory=list)
    index_url: str | None = None
    extra_index_urls: list[str] = field(default_factory=list)
    files: dict[Path, Path] = field(default_factory=dict)
    find_links: dict[str, FindLinks] = field(default_factory=dict)
    #: The folder relative source paths are taken from; ``None``: each file's own.
    base: Path | None = None

    def folder(self, where: _Where) -> Path:
        return self.base or where.location.file.parent

    def read(self, path: Path, *, constraint: bool, stack: tuple[Path, ...]) -> None:
        """Read one file; ``stack`` holds the files that include it, for cycle checks."""
        self.files.setdefault(path.resolve(), path)
        stack = (*stack, path.resolve())
        for number, raw in _logical_lines(_read_text(path).splitlines()):
            text = _COMMENT.sub("", raw).strip()
            if text:
                where = _Where(location=Location(file=path, line=number), text=text)
                self._line(where, constraint=constraint, stack=stack)

    def _line(self, where: _Where, *, constraint: bool, stack: tuple[Path, ...]) -> None:
        args, options_text = _split_args_options(_expand_env(where.text))
        options = _parse_options(options_text, where)
        if args:
            self._requirement(where, args, options, constraint=constraint)
            return
        for option in options:
            self._option(where, option, constraint=constraint, stack=stack)

    def _option(
        self, where: _Where, option: _Option, *, constraint: bool, stack: tuple[Path, ...]
    ) -> None:
        match option.kind:
            case "requirement" | "constraint":
                included = _include_path(where, option)
                _check_cycle(where, included, stack)
                self.read(included, constraint=option.kind == "constraint", stack=stack)
            case "editable":
                self._editable(where, option.value, constraint=constraint)
            case "index_url":
                _check_url(where, option.value, option.name)
                self.index_url = option.value
            case "extra_index_url":
                _check_url(where, option.value, option.name)
                if option.value not in self.extra_index_urls:
                    self.extra_index_urls.append(option.value)
            case "find_links":
                found = _find_links(where, option)
                self.find_links.setdefault(found.uv_value, found)
            case "hash" | "build_option":
                raise where.error(
                    f"{option.name} belongs after a requirement on the same line",
                    f"write `name==1.0 {option.name}=...` (use `\\` to continue a long line)",
                )
            case "ignored_value" | "ignored_flag":
                pass

    def _requirement(
        self, where: _Where, args: str, options: list[_Option], *, constraint: bool
    ) -> None:
        hashes: set[str] = set()
        for option in options:
            if option.kind == "hash":
                hashes.add(_sha256(where, option.value))
            elif option.kind == "build_option":
                raise where.error(
                    f"{option.name} is not supported: wheelhouse builds every sdist "
                    "the same way for a target",
                    f"remove {option.name} from the line",
                )
            else:
                raise where.error(
                    f"option {option.name} cannot follow a requirement",
                    f"put {option.name} on a line of its own",
                )
        parsed = _parse_requirement(where, args)
        if isinstance(parsed, tuple):
            kind, name, marker, value = parsed
            if kind == "vcs" and value.startswith("git+") and not constraint:
                self.sources.append(_git_line(where, value, name, marker))
                return
            if kind in ("url", "path") and not constraint:
                self.sources.append(
                    _source_line(where, kind, value, (name, marker), hashes, self.folder(where))
                )
                return
            self._unsupported(where, kind, args, constraint=constraint, name=name, marker=marker)
            return
        line = RequirementLine(
            requirement=parsed, hashes=frozenset(hashes), location=where.location, text=where.text
        )
        (self.constraints if constraint else self.requirements).append(line)

    def _editable(self, where: _Where, value: str, *, constraint: bool) -> None:
        if constraint:
            self._unsupported(where, "editable", value, constraint=constraint)
        if value.startswith("git+"):
            self.sources.append(_git_line(where, value, _name_from_location(value), None))
            return
        if _URL.match(value) and not value.lower().startswith("file:"):
            self._unsupported(
                where, "vcs" if _url_kind(value) == "vcs" else "editable", value, constraint=False
            )
            return
        path = _local_path(where, value.split("#", 1)[0], self.folder(where))
        self.sources.append(
            SourceLine(
                kind="editable",
                location=where.location,
                text=where.text,
                target=str(path),
                name=_name_from_location(value) if "#egg=" in value else None,
            )
        )

    def _unsupported(
        self,
        where: _Where,
        kind: str,
        value: str,
        *,
        constraint: bool,
        name: NormalizedName | None = None,
        marker: Marker | None = None,
    ) -> None:
        if constraint:
            raise where.error(
                "a constraint must name a project and versions, not a "
                + _REASONS[kind].split(":", 1)[0],
                "write `name==version` in the constraints file, "
                "or move the line to the requirements file",
            )
        self.unsupported.append(
            UnsupportedLine(
                location=where.location,
                text=where.text,
                reason=_REASONS[kind],
                name=name or _name_from_location(value),
                marker=marker,
            )
        )


def _read_text(path: Path) -> str:
    return read_text(
        path,
        what="requirements file",
        error=RequirementsError,
        hint="check the path in wheelhouse.yaml `requirements:` or pass --requirements",
    )


def _include_path(where: _Where, option: _Option) -> Path:
    if _URL.match(option.value):
        raise where.error(
            "remote requirements files are not read",
            "download the file next to this one and include it by its path",
        )
    included = where.location.file.parent / option.value
    if not included.is_file():
        raise where.error(
            f"included file not found: {included}",
            f"paths after -r / -c are relative to the including file's directory "
            f"({where.location.file.parent})",
        )
    return included


def _find_links(where: _Where, option: _Option) -> FindLinks:
    """A folder is taken relative to the requirements file's own folder (as pip does), and
    must exist: pip only warns, and uv then fails with "relative URL without a base"."""
    value = option.value
    if _URL.match(value) and not value.lower().startswith("file:"):
        _check_url(where, value, option.name)
        return FindLinks(location=where.location, value=value, url=value)
    folder = Path(url_to_path(value)) if value.lower().startswith("file:") else Path(value)
    folder = (where.location.file.parent / folder.expanduser()).resolve()
    if not folder.is_dir():
        raise where.error(
            f"{option.name} folder not found: {folder}",
            f"a relative folder is taken from the requirements file's folder "
            f"({where.location.file.parent}); create it, fix the path, or remove the line",
        )
    return FindLinks(location=where.location, value=value, folder=folder)


def _check_cycle(where: _Where, included: Path, stack: tuple[Path, ...]) -> None:
    resolved = included.resolve()
    if resolved in stack:
        chain = " -> ".join(p.name for p in (*stack[stack.index(resolved) :], resolved))
        raise where.error(
            f"include cycle: {chain}",
            "remove one of the -r / -c lines; includes must not form a cycle",
        )


def _sha256(where: _Where, value: str) -> str:
    algorithm, colon, digest = value.partition(":")
    if not colon:
        raise where.error(
            f"--hash={value}: expected ALGORITHM:DIGEST", "write --hash=sha256:<64 hex digits>"
        )
    if algorithm.lower() != "sha256":
        raise where.error(
            f"--hash={value}: only sha256 hashes are supported",
            "regenerate hashes with `uv pip compile --generate-hashes` or "
            "`pip-compile --generate-hashes` (both write sha256)",
        )
    digest = digest.lower()
    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise where.error(
            f"--hash={value}: a sha256 digest is 64 hex digits",
            "copy the digest again from the index or regenerate the hashes",
        )
    return digest


def _parse_requirement(
    where: _Where, text: str
) -> Requirement | tuple[str, NormalizedName | None, Marker | None, str]:
    """A ``Requirement``, or (kind, name, marker, URL or path) of a line naming its source."""
    if _URL.match(text):
        url, _, marker_text = text.partition("; ")
        url = url.strip()
        _check_url(where, url, "the URL")
        return _url_kind(url), _name_from_location(url), _marker(where, marker_text), url
    path, _, marker_text = text.partition(";")
    if _looks_like_path(path.strip()):
        path = path.strip()
        return "path", _name_from_location(path), _marker(where, marker_text), path
    try:
        requirement = Requirement(text)
    except InvalidRequirement as exc:
        raise where.error(f"invalid requirement: {exc}", _requirement_hint(text)) from None
    if requirement.url:
        _check_url(where, requirement.url, "the URL")
        name = canonicalize_name(requirement.name)
        return _url_kind(requirement.url), name, requirement.marker, requirement.url
    return requirement


def _source_line(  # noqa: PLR0917
    where: _Where,
    kind: str,
    value: str,
    named: tuple[NormalizedName | None, Marker | None],
    hashes: set[str],
    folder: Path,
) -> SourceLine:
    """An archive URL, or a local archive or folder (relative to the file's folder)."""
    name, marker = named
    location, _, fragment = value.partition("#")
    given = set(hashes)
    for part in fragment.split("&"):
        algorithm, _, digest = part.partition("=")
        if algorithm == "sha256":
            given.add(_sha256(where, f"sha256:{digest}"))
    if kind == "url":
        return SourceLine(
            kind="url",
            location=where.location,
            text=where.text,
            target=location,
            name=name,
            marker=marker,
            hashes=frozenset(given),
        )
    path = _local_path(where, location, folder)
    return SourceLine(
        kind="directory" if path.is_dir() else "archive",
        location=where.location,
        text=where.text,
        target=str(path),
        name=name,
        marker=marker,
        hashes=frozenset(given),
    )


def _git_line(
    where: _Where, value: str, name: NormalizedName | None, marker: Marker | None
) -> SourceLine:
    if name is None:
        raise where.error(
            "a git URL with no project name",
            "write `name @ git+https://host/repo@rev`, or end the URL with `#egg=name`",
        )
    return SourceLine(
        kind="git",
        location=where.location,
        text=where.text,
        target=value,
        name=name,
        marker=marker,
    )


def _local_path(where: _Where, value: str, folder: Path) -> Path:
    path = Path(url_to_path(value)) if value.lower().startswith("file:") else Path(value)
    try:
        path = (folder / path.expanduser()).resolve()
    except RuntimeError:  # `~nosuchuser/...`: no such home directory (found by fuzz_inputs)
        raise where.error(
            f"{value}: no home directory for {Path(value).parts[0]}",
            "fix the user name or write the path out",
        ) from None
    if not path.exists():
        raise where.error(
            f"local path not found: {path}",
            f"a relative path is taken from the requirements file's folder ({folder}); "
            "fix the path or remove the line",
        )
    if path.is_file() and not path.name.lower().endswith(_ARCHIVE_SUFFIXES):
        raise where.error(
            f"{path} is neither a folder nor a wheel or sdist archive",
            "name a project folder, a .whl or a .tar.gz / .zip sdist",
        )
    return path


def _check_url(where: _Where, url: str, what: str) -> None:
    problem = url_problem(url)
    if problem is not None:
        raise where.error(
            f"{what}: {problem}",
            "write a whole URL such as https://pypi.org/simple (an IPv6 host goes in "
            "brackets: https://[::1]:8080/simple)",
        )


def _requirement_hint(text: str) -> str:
    if re.match(r"^[A-Za-z0-9._-]+(\[[^\]]*\])?\s*=[^=]", text):
        return "use `==` to pin a version, e.g. `name==1.2.3`"
    return (
        "write one PEP 508 requirement per line, "
        'e.g. `name==1.2.3` or `name[extra]>=1 ; python_version >= "3.11"`'
    )


def _marker(where: _Where, text: str) -> Marker | None:
    if not text.strip():
        return None
    try:
        return Marker(text.strip())
    except InvalidMarker as exc:
        raise where.error(
            f"invalid environment marker: {exc}",
            'write a PEP 508 marker after `; `, e.g. `; sys_platform == "linux"`',
        ) from None


def parse_requirements(path: Path, *, base: Path | None = None) -> RequirementsFile:
    """Read a requirements file and everything it includes, as pip would; relative source
    paths are taken from ``base`` when given (uv's output for the user's file), else from
    each file's own folder."""
    reader = _Reader(base=base)
    reader.read(path, constraint=False, stack=())
    return RequirementsFile(
        requirements=tuple(reader.requirements),
        constraints=tuple(reader.constraints),
        unsupported=tuple(reader.unsupported),
        sources=tuple(reader.sources),
        index_url=reader.index_url,
        extra_index_urls=tuple(reader.extra_index_urls),
        files=tuple(reader.files.values()),
        find_links=tuple(reader.find_links.values()),
    )


# --- pins ------------------------------------------------------------------------


def _pin_specifier(specifiers: SpecifierSet) -> Specifier | None:
    """The ``==X`` (not a wildcard) or ``===X`` specifier of a set, if it has one."""
    for spec in specifiers:
        if spec.operator == "===" or (spec.operator == "==" and not spec.version.endswith(".*")):
            return spec
    return None


def is_fully_pinned(reqs: RequirementsFile) -> bool:
    """Whether every requirement pins ``==X`` / ``===X``, itself or by a marker-less constraint."""
    pinned_by_constraint = {
        line.name
        for line in reqs.constraints
        if line.requirement.marker is None and _pin_specifier(line.requirement.specifier)
    }
    return all(
        _pin_specifier(line.requirement.specifier) is not None or line.name in pinned_by_constraint
        for line in reqs.requirements
    )


def _applies(marker: Marker | None, environment: dict[str, str]) -> bool:
    return marker is None or marker.evaluate(environment)


def pins_for_target(
    reqs: RequirementsFile, target: Target, *, force_build: frozenset[str] = frozenset()
) -> tuple[tuple[Pin, ...], tuple[str, ...]]:
    """The pins a target installs, and warnings (human sentences).

    Only for pinned input (``is_fully_pinned``): a requirement left unpinned after its
    constraints raises ``ValueError``, since loose input is resolved by uv first.
    """
    environment = {**target.marker_environment, "extra": ""}
    forced = {canonicalize_name(name) for name in force_build}
    groups = _group(reqs.requirements, environment)
    constraints = _group(reqs.constraints, environment)
    warnings: list[str] = []
    pins = [
        _pin(name, lines, constraints.get(name, []), forced, warnings)
        for name, lines in groups.items()
    ]
    for line in reqs.unsupported:
        if _applies(line.marker, environment):
            pins.append(_unsupported_pin(line, forced))
            if line.name in groups:
                warnings.append(
                    f"{line.name}: {line.location} ({line.text}) and "
                    f"{groups[line.name][0].location} both name it; pip would refuse both"
                )
    return tuple(pins), tuple(warnings)


def _group(
    lines: Iterable[RequirementLine], environment: dict[str, str]
) -> dict[NormalizedName, list[RequirementLine]]:
    groups: dict[NormalizedName, list[RequirementLine]] = {}
    for line in lines:
        if _applies(line.requirement.marker, environment):
            groups.setdefault(line.name, []).append(line)
    return groups


def _pin(
    name: NormalizedName,
    lines: list[RequirementLine],
    constraints: list[RequirementLine],
    forced: set[NormalizedName],
    warnings: list[str],
) -> Pin:
    every = [*lines, *constraints]
    version = _pinned_version(name, every)
    for line in every:
        if not line.requirement.specifier.contains(version, prereleases=True):
            raise RequirementsError(
                f"{name}: conflicting versions: {_describe(every)}",
                hint=f"keep one version of {name}: edit or remove the conflicting lines",
            )
    return Pin(
        name=name,
        version=version,
        hashes=_merge_hashes(name, every, warnings),
        location=lines[0].location,
        force_build=name in forced,
        extras=frozenset(e for line in lines for e in line.requirement.extras),
    )


def _pinned_version(name: NormalizedName, lines: list[RequirementLine]) -> Version:
    for line in lines:
        spec = _pin_specifier(line.requirement.specifier)
        if spec is None:
            continue
        try:
            return Version(spec.version)
        except InvalidVersion:
            raise RequirementsError(
                f"{line.location}: {line.text}\n  {spec} is not a PEP 440 version",
                hint=f"pin {name} with `==` and a released version",
            ) from None
    raise ValueError(
        f"{lines[0].location}: {lines[0].text} is not pinned; "
        "resolve loose requirements (uv) before asking for pins"
    )


def _merge_hashes(
    name: NormalizedName, lines: list[RequirementLine], warnings: list[str]
) -> frozenset[str]:
    """Intersect the hash sets of the lines that have some; if that leaves none, keep them all."""
    hashed = [line for line in lines if line.hashes]
    if not hashed:
        return frozenset()
    common = frozenset.intersection(*(line.hashes for line in hashed))
    if common:
        return common
    warnings.append(
        f"{name}: {_describe(hashed)} list disjoint --hash sets (pip would refuse to install); "
        "wheelhouse accepts a file matching any of them"
    )
    return frozenset.union(*(line.hashes for line in hashed))


def _describe(lines: list[RequirementLine]) -> str:
    return ", ".join(f"{line.location} ({line.text})" for line in lines)


def _unsupported_pin(line: UnsupportedLine, forced: set[NormalizedName]) -> Pin:
    name = line.name or cast(NormalizedName, line.text)
    return Pin(
        name=name,
        version=None,
        location=line.location,
        unsupported=line.reason,
        force_build=name in forced,
    )
