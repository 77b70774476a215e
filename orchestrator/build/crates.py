"""Rust crates for offline builds: ``cargo vendor`` on the host, from the sdist's Cargo.lock.

A maturin or setuptools-rust build runs cargo, and cargo fetches every crate its
Cargo.lock names from crates.io. The build container is offline, so the crates are
fetched on the host and placed beside the package's build requirements
(``deps/<name>/.cargo/vendor``, mounted at ``/wheelhouse/deps``) with a
``.cargo/config.toml`` that replaces crates.io by that directory; the build script points
``CARGO_HOME`` at a copy of it. When cargo is missing, or crates.io cannot be reached,
the package fails with a message that says so and what to do instead.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from orchestrator.archives import ArchiveError, extract, tar_members
from orchestrator.build.requires import SdistError

#: ``deps/<name>/.cargo`` in the build context; the package stage mounts deps at this path.
CARGO_DIR = ".cargo"
CONTAINER_DEPS = PurePosixPath("/wheelhouse/deps")
#: Seconds ``cargo vendor`` may take (it retries a failing network three times itself).
VENDOR_TIMEOUT = 900.0
#: What cargo prints when it cannot reach a registry (curl's words, and its own).
_NETWORK_ERRORS = (
    "Could not resolve host",
    "spurious network error",
    "failed to download from",
    "Couldn't connect to server",
    "Connection refused",
    "Timeout was reached",
    "SSL connect error",
    "network failure",
)

#: Runs a command: args -> (exit code, stdout, stderr).
CargoRunner = Callable[[Sequence[str]], tuple[int, str, str]]


class CrateError(Exception):
    """The crates of a Rust sdist cannot be had on this machine; the message says why."""


def cargo_lock_dirs(sdist: Path) -> tuple[PurePosixPath, ...]:
    """The sdist's directories holding a Cargo.lock, shallowest first ("" is the top).

    Without any Cargo.lock, the shallowest directory holding a Cargo.toml (cargo must
    then pick crate versions itself). Paths are relative to the sdist's top directory.
    """
    names = _member_names(sdist)
    for manifest in ("Cargo.lock", "Cargo.toml"):
        found = sorted(
            {_inside_top(n).parent for n in names if PurePosixPath(n).name == manifest},
            key=lambda p: (len(p.parts), str(p)),
        )
        if found:
            return tuple(found if manifest == "Cargo.lock" else found[:1])
    return ()


def _member_names(sdist: Path) -> list[str]:
    """Raises ``SdistError`` for an archive that cannot be read to its end."""
    try:
        return _names(sdist)
    except (OSError, EOFError, tarfile.TarError, zipfile.BadZipFile, ArchiveError) as exc:
        raise SdistError(f"cannot read sdist {sdist.name}: {exc}") from None


def _names(sdist: Path) -> list[str]:
    if sdist.name.endswith(".zip"):
        with zipfile.ZipFile(sdist) as archive:
            return archive.namelist()
    with tarfile.open(sdist) as archive:
        return [m.name for m in tar_members(archive, sdist.name) if m.isfile()]


def _inside_top(member: str) -> PurePosixPath:
    parts = PurePosixPath(member).parts
    return PurePosixPath(*parts[1:]) if len(parts) > 1 else PurePosixPath(member)


def _run_cargo(args: Sequence[str]) -> tuple[int, str, str]:
    try:
        done = subprocess.run(
            list(args), capture_output=True, text=True, check=False, timeout=VENDOR_TIMEOUT
        )
    except subprocess.TimeoutExpired:
        return 124, "", f"cargo vendor took longer than {VENDOR_TIMEOUT:.0f} s"
    except OSError as exc:
        return 127, "", f"cannot run {args[0]}: {exc}"
    return done.returncode, done.stdout, done.stderr


@dataclass(frozen=True, kw_only=True)
class CrateVendor:
    """Vendors the crates of Rust sdists on the host. ``cargo`` ``None``: found on PATH."""

    cargo: str | None = None
    run: CargoRunner = _run_cargo

    def __call__(
        self, sdist: Path, dest: Path, *, name: str, version: str, target: str
    ) -> Path | None:
        """``dest/.cargo`` (vendor/ + config.toml) when ``sdist`` has Rust crates; ``None``
        when it has none. Raises ``CrateError`` when they cannot be fetched."""
        try:
            dirs = cargo_lock_dirs(sdist)
        except SdistError as exc:
            raise CrateError(f"{name}=={version}: {exc.message}") from None
        if not dirs:
            return None
        cargo = self.cargo or shutil.which("cargo")
        if cargo is None:
            raise CrateError(_no_cargo(name, version, target))
        out = dest / CARGO_DIR
        with tempfile.TemporaryDirectory(prefix="wheelhouse-crates-") as tmp:
            try:
                top = _unpack(sdist, Path(tmp))
            except (ArchiveError, EOFError, tarfile.TarError, zipfile.BadZipFile) as exc:
                raise CrateError(
                    f"{name}=={version}: its sdist is refused before cargo vendor: {exc} "
                    "(a broken or hostile sdist: nothing was written outside its temporary "
                    "directory)"
                ) from None
            args = [cargo, "vendor", "--manifest-path", str(top / dirs[0] / "Cargo.toml")]
            args += [a for d in dirs[1:] for a in ("--sync", str(top / d / "Cargo.toml"))]
            has_lock = (top / dirs[0] / "Cargo.lock").is_file()
            args += [*(["--locked"] if has_lock else []), str(out / "vendor")]
            code, stdout, stderr = self.run(args)
        if code != 0:
            shutil.rmtree(out, ignore_errors=True)
            raise CrateError(_vendor_failed(name, version, target, code, stderr or stdout))
        (out / "vendor").mkdir(parents=True, exist_ok=True)  # none when there is no crate
        (out / "config.toml").write_text(container_config(stdout, out / "vendor"), "utf-8")
        return out


def container_config(cargo_output: str, vendored: Path) -> str:
    """``cargo vendor``'s source replacement, pointing at the vendor dir inside the build
    container, plus ``net.offline``: cargo must never try the network there."""
    inside = CONTAINER_DEPS / CARGO_DIR / "vendor"
    config = cargo_output.replace(f'"{vendored}"', f'"{inside}"')
    if f'"{inside}"' not in config:  # cargo printed nothing usable: write the usual table
        config = (
            '[source.crates-io]\nreplace-with = "vendored-sources"\n\n'
            f'[source.vendored-sources]\ndirectory = "{inside}"\n'
        )
    return config.rstrip() + "\n\n[net]\noffline = true\n"


def _unpack(sdist: Path, into: Path) -> Path:
    """Extract ``sdist`` into ``into`` and return its top directory."""
    extract(sdist, into)  # bounded, and never outside ``into`` (archives.py)
    tops = [p for p in into.iterdir() if p.is_dir()]
    return tops[0] if len(tops) == 1 else into


def _no_cargo(name: str, version: str, target: str) -> str:
    return (
        f"{name}=={version} compiles Rust: its crates must be fetched on this machine with "
        "`cargo vendor` (the build container is offline), and cargo is not installed here. "
        f"Install cargo (`apt-get install cargo`, or rustup), or use a release of {name} "
        f"that has a wheel for {target}"
    )


def _vendor_failed(name: str, version: str, target: str, code: int, output: str) -> str:
    detail = _last_cause(output)
    package = f"{name}=={version}"
    if any(marker in output for marker in _NETWORK_ERRORS):
        return (
            f"{package} compiles Rust, and its crates cannot be fetched: the crate registry "
            f"(crates.io) is not reachable from this machine ({detail}). The offline build "
            "needs every crate of its Cargo.lock. Make index.crates.io and static.crates.io "
            "reachable (a proxy: HTTPS_PROXY), or point cargo at a mirror in "
            "~/.cargo/config.toml ([source.crates-io] replace-with = ...), or use a release "
            f"of {name} that has a wheel for {target}"
        )
    return f"{package}: `cargo vendor` of its Rust crates failed (exit {code}): {detail}"


def _last_cause(output: str) -> str:
    """cargo's innermost reason: the last non-empty line of its error chain."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    meaningful = [line for line in lines if not re.fullmatch(r"Caused by:", line)]
    return meaningful[-1] if meaningful else "no output"
