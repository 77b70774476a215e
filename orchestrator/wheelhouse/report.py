"""What verify found: per package installed or not, each import's result, and the likely fix
for each failure (``likely_fix``)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from orchestrator.errors import VerifyFailedError
from orchestrator.targets import Target

#: Lines of pip's output (or of the container's stderr) a report keeps.
LOG_TAIL_LINES = 40


@dataclass(frozen=True, kw_only=True)
class PackageVerify:
    """One distribution: did it install, and did each of its top-level modules import?"""

    name: str
    version: str | None
    installed: bool
    #: Module -> ``"ok"`` or ``"<ExcType>: message"``.
    imports: Mapping[str, str] = field(default_factory=dict, hash=False)
    #: Why it is not installed (a line of pip's output, or the failed build of the manifest).
    error: str | None = None
    #: Likely fixes, one per distinct failure.
    hints: tuple[str, ...] = ()
    #: Installed but not imported, as configured (``verify_import: false``).
    import_skipped: bool = False
    #: The recipe's ``test`` command, its exit code and its output's tail (``None``: no test).
    test: str | None = None
    test_returncode: int | None = None
    test_output: str = ""

    @property
    def test_failed(self) -> bool:
        return self.test is not None and self.test_returncode != 0

    @property
    def failed_imports(self) -> dict[str, str]:
        return {m: r for m, r in self.imports.items() if r != "ok"}

    @property
    def ok(self) -> bool:
        return (
            self.installed
            and self.error is None
            and not self.failed_imports
            and not self.test_failed
        )


@dataclass(frozen=True, kw_only=True)
class VerifyReport:
    target: Target
    ok: bool
    packages: tuple[PackageVerify, ...]
    install_log_tail: str
    image: str = ""
    install_ok: bool = False
    #: A failure that belongs to no single package (venv, timeout, crash of the script).
    error: str | None = None
    hint: str | None = None
    seconds: float = 0.0
    #: The container's name when it was kept for debugging.
    container: str | None = None

    @property
    def failed(self) -> tuple[PackageVerify, ...]:
        return tuple(p for p in self.packages if not p.ok)

    def raise_for_failure(self) -> None:
        """Raise ``VerifyFailedError`` naming every failure, unless the report is ok."""
        if self.ok:
            return
        problems = [self.error] if self.error else []
        problems += [package_problem(p) for p in self.failed]
        hints = dict.fromkeys(
            h for h in (self.hint, *(h for p in self.failed for h in p.hints)) if h
        )
        raise VerifyFailedError(
            f"{self.target.id}: the wheelhouse does not work in {self.image}: "
            + "; ".join(problems or ["pip install failed"]),
            hint="; ".join(hints) or f"read the install log:\n{self.install_log_tail}",
        )


def package_problem(package: PackageVerify) -> str:
    if not package.installed:
        return f"{package.name} not installed ({package.error or 'see the install log'})"
    failed = [f"import {m}: {r}" for m, r in package.failed_imports.items()]
    if package.test_failed:
        failed.append(test_problem(package))
    return f"{package.name}: {', '.join(failed)}"


def test_problem(package: PackageVerify) -> str:
    return (
        f"test `{package.test}` failed (exit {package.test_returncode}):\n"
        f"{package.test_output or '(no output)'}"
    )


#: Shared libraries wheels often expect from the system: (Debian package, Alpine package).
_LIBRARY_PACKAGES: dict[str, tuple[str, str]] = {
    "libpq.so.5": ("libpq5", "libpq"),
    "libffi.so.8": ("libffi8", "libffi"),
    "libssl.so.3": ("libssl3", "libssl3"),
    "libcrypto.so.3": ("libssl3", "libcrypto3"),
    "libz.so.1": ("zlib1g", "zlib"),
    "libxml2.so.2": ("libxml2", "libxml2"),
    "libxslt.so.1": ("libxslt1.1", "libxslt"),
    "libjpeg.so.62": ("libjpeg62-turbo", "libjpeg-turbo"),
    "libyaml-0.so.2": ("libyaml-0-2", "yaml"),
    "libgomp.so.1": ("libgomp1", "libgomp"),
    "libstdc++.so.6": ("libstdc++6", "libstdc++"),
    "libgcc_s.so.1": ("libgcc-s1", "libgcc"),
    "libgfortran.so.5": ("libgfortran5", "libgfortran"),
    "libopenblas.so.0": ("libopenblas0", "openblas"),
    "libmariadb.so.3": ("libmariadb3", "mariadb-connector-c"),
    "libsqlite3.so.0": ("libsqlite3-0", "sqlite-libs"),
    "libgeos_c.so.1": ("libgeos-c1v5", "geos"),
    "libcairo.so.2": ("libcairo2", "cairo"),
}


_MISSING_WHEEL = "a wheel for this target is missing from the wheelhouse: run `wheelhouse build`"


def _missing_library(match: re.Match[str]) -> str:
    library = match[1]
    known = _LIBRARY_PACKAGES.get(library)
    where = (
        f"apt: {known[0]} / apk: {known[1]}"
        if known
        else f"apt: `apt-file search {library}` / apk: `apk search so:{library}`"
    )
    return (
        f"the runtime image lacks {library}: install it in the runtime stage ({where}) "
        "or let auditwheel vendor it"
    )


_HINTS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = (
    # uwsgi 2.0.28's bin/uwsgi: it links libpython, which auditwheel repair removes
    # (manylinux forbids it) unless told to keep it, so the program lacks Python's symbols.
    (
        re.compile(r"symbol lookup error: (\S+/bin/[\w.+-]+): undefined symbol: _?Py\w+"),
        lambda m: (
            f"{m[1].rsplit('/', 1)[-1]} is a program that links libpython, which auditwheel "
            "repair removed from the wheel: give the package `system_libraries: "
            "[libpython3.*.so.1.0]` and the runtime package of libpython (wheelhouse.yaml "
            "packages.<name>), as the knowledge file does for uwsgi, and build it again"
        ),
    ),
    (
        re.compile(r"([\w.+-]+\.so(?:\.[\w.]+)?): cannot open shared object file"),
        _missing_library,
    ),
    (
        re.compile(
            r"undefined symbol|symbol not found|version [`'](?:GLIBC|GLIBCXX|CXXABI)_[\d.]+' not"
        ),
        lambda _m: (
            "built against a newer libc/toolchain than the runtime image: build in a "
            "base image no newer than the runtime image (targets[].base_image), or run a newer "
            "runtime image"
        ),
    ),
    (
        re.compile(
            r"No matching distribution found|Could not find a version that satisfies"
            r"|requires building|--only-binary"
        ),
        lambda _m: _MISSING_WHEEL,
    ),
    (
        re.compile(r"is not a supported wheel on this platform"),
        lambda _m: (
            "the wheelhouse was built for another target: check that the runtime "
            "image's Python, architecture and libc match the target id"
        ),
    ),
    (
        re.compile(r"(?i)do not match the hashes"),
        lambda _m: (
            "a wheel changed after the wheelhouse was collected: run `wheelhouse "
            "build` again (it rewrites the wheelhouse)"
        ),
    ),
    (
        re.compile(r"requires a different Python"),
        lambda _m: (
            "the runtime image's Python is not the target's: use a runtime image "
            "with the target's Python version"
        ),
    ),
    (
        re.compile(r"ensurepip is not available|No module named '?(?:venv|ensurepip)"),
        lambda _m: (
            "the runtime image cannot create a venv: install python3-venv (Debian) "
            "in it, or use an official python image"
        ),
    ),
    (
        re.compile(r"exec format error|wrong ELF class|cannot execute binary file"),
        lambda _m: (
            "a binary for another architecture: the wheel or the image does not match "
            "the target's platform"
        ),
    ),
    (
        re.compile(r"SIGILL|Illegal instruction"),
        lambda _m: (
            "the extension uses CPU instructions the target does not have: build it "
            "for the target's baseline CPU"
        ),
    ),
    (
        re.compile(r"No module named '([\w.]+)'"),
        lambda m: (
            f"the package imports {m[1]}, which is not installed: add the "
            "distribution that provides it (or the extra it belongs to) to your requirements"
        ),
    ),
)


def likely_fix(message: str) -> str | None:
    """The most likely fix for a failure message from pip or an import, if one is known."""
    for pattern, hint in _HINTS:
        match = pattern.search(message)
        if match:
            return hint(match)
    return None
