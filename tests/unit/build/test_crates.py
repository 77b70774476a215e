"""Rust crates vendored on the host for the offline build, with a fake cargo."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from orchestrator.build.crates import (
    CrateError,
    CrateVendor,
    cargo_lock_dirs,
    container_config,
)

SdistFactory = Callable[..., Path]
TARGET = "cp311-manylinux_2_36_aarch64"
CARGO_TOML = '[package]\nname = "demo"\nversion = "0.1.0"\n[dependencies]\nlibc = "0.2"\n'
CARGO_LOCK = 'version = 3\n[[package]]\nname = "libc"\nversion = "0.2.169"\n'
#: What cargo 1.95 printed here, where crates.io cannot be resolved (a real run).
CARGO_OFFLINE = """\
    Updating crates.io index
warning: spurious network error (3 tries remaining): [6] Could not resolve hostname (Could \
not resolve host: index.crates.io)
warning: spurious network error (2 tries remaining): [6] Could not resolve hostname (Could \
not resolve host: index.crates.io)
warning: spurious network error (1 try remaining): [6] Could not resolve hostname (Could \
not resolve host: index.crates.io)
error: failed to sync

Caused by:
  failed to load lockfile for /tmp/demo

Caused by:
  failed to get `libc` as a dependency of package `demo v0.1.0 (/tmp/demo)`

Caused by:
  download of config.json failed

Caused by:
  failed to download from `https://index.crates.io/config.json`

Caused by:
  [6] Could not resolve hostname (Could not resolve host: index.crates.io)
"""


def rust_sdist(make_sdist: SdistFactory, fmt: str = "tar.gz", where: str = "") -> Path:
    base = f"demo-1.0/{where}"
    return make_sdist(
        "demo",
        "1.0",
        pyproject='[build-system]\nrequires = ["maturin>=1,<2"]\nbuild-backend = "maturin"\n',
        fmt=fmt,
        extra={f"{base}Cargo.toml": CARGO_TOML, f"{base}Cargo.lock": CARGO_LOCK},
    )


class FakeCargo:
    """Records each run; on success writes a crate into the vendor dir and prints the
    source replacement as ``cargo vendor`` does."""

    def __init__(self, code: int = 0, stderr: str = "") -> None:
        self.code, self.stderr = code, stderr
        self.calls: list[list[str]] = []
        self.manifests: list[str] = []

    def __call__(self, args: Sequence[str]) -> tuple[int, str, str]:
        self.calls.append(list(args))
        manifest = Path(args[args.index("--manifest-path") + 1])
        self.manifests.append(manifest.read_text())
        if self.code != 0:
            return self.code, "", self.stderr
        vendor = Path(args[-1])
        (vendor / "libc").mkdir(parents=True)
        (vendor / "libc" / "Cargo.toml").write_text('[package]\nname = "libc"\n')
        config = (
            '[source.crates-io]\nreplace-with = "vendored-sources"\n\n'
            f'[source.vendored-sources]\ndirectory = "{vendor}"\n'
        )
        return 0, config, "   Vendoring libc v0.2.169\n"


# --- finding the crates -------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["tar.gz", "zip"])
def test_a_cargo_lock_at_the_top(make_sdist: SdistFactory, fmt: str) -> None:
    assert [str(d) for d in cargo_lock_dirs(rust_sdist(make_sdist, fmt))] == ["."]


def test_cargo_locks_below_the_top_shallowest_first(make_sdist: SdistFactory) -> None:
    sdist = make_sdist(
        extra={
            "demo-1.0/src/rust/Cargo.lock": CARGO_LOCK,
            "demo-1.0/src/rust/Cargo.toml": CARGO_TOML,
            "demo-1.0/a/Cargo.lock": CARGO_LOCK,
        }
    )
    assert [str(d) for d in cargo_lock_dirs(sdist)] == ["a", "src/rust"]


def test_without_a_lock_the_shallowest_manifest(make_sdist: SdistFactory) -> None:
    sdist = make_sdist(
        extra={"demo-1.0/rust/Cargo.toml": CARGO_TOML, "demo-1.0/rust/sub/Cargo.toml": "x"}
    )
    assert [str(d) for d in cargo_lock_dirs(sdist)] == ["rust"]


def test_an_sdist_without_rust_has_none(make_sdist: SdistFactory) -> None:
    assert cargo_lock_dirs(make_sdist()) == ()


# --- vendoring ------------------------------------------------------------------------------------


def test_crates_are_vendored_with_a_config_for_the_container(
    make_sdist: SdistFactory, tmp_path: Path
) -> None:
    cargo = FakeCargo()
    vendor = CrateVendor(cargo="/usr/bin/cargo", run=cargo)

    found = vendor(
        rust_sdist(make_sdist), tmp_path / "deps", name="demo", version="1.0", target=TARGET
    )

    assert found == tmp_path / "deps" / ".cargo"
    (args,) = cargo.calls
    assert args[:3] == ["/usr/bin/cargo", "vendor", "--manifest-path"]
    assert args[3].endswith("/demo-1.0/Cargo.toml")
    assert args[4:] == ["--locked", str(found / "vendor")]
    assert cargo.manifests == [CARGO_TOML]  # cargo read the sdist's own manifest
    assert (found / "vendor" / "libc" / "Cargo.toml").is_file()
    assert (found / "config.toml").read_text() == (
        '[source.crates-io]\nreplace-with = "vendored-sources"\n\n'
        '[source.vendored-sources]\ndirectory = "/wheelhouse/deps/.cargo/vendor"\n\n'
        "[net]\noffline = true\n"
    )


def test_every_lock_of_the_sdist_is_vendored_into_one_directory(
    make_sdist: SdistFactory, tmp_path: Path
) -> None:
    sdist = make_sdist(
        extra={
            "demo-1.0/Cargo.lock": CARGO_LOCK,
            "demo-1.0/Cargo.toml": CARGO_TOML,
            "demo-1.0/ext/Cargo.lock": CARGO_LOCK,
            "demo-1.0/ext/Cargo.toml": CARGO_TOML,
        }
    )
    cargo = FakeCargo()
    CrateVendor(cargo="cargo", run=cargo)(
        sdist, tmp_path, name="demo", version="1.0", target=TARGET
    )
    (args,) = cargo.calls
    assert args[4] == "--sync"
    assert args[5].endswith("/demo-1.0/ext/Cargo.toml")


def test_an_sdist_without_rust_runs_no_cargo(make_sdist: SdistFactory, tmp_path: Path) -> None:
    cargo = FakeCargo()
    found = CrateVendor(cargo="cargo", run=cargo)(
        make_sdist(), tmp_path, name="demo", version="1.0", target=TARGET
    )
    assert found is None
    assert cargo.calls == []


def test_an_unreachable_crate_registry_says_so_and_what_to_do(
    make_sdist: SdistFactory, tmp_path: Path
) -> None:
    cargo = FakeCargo(code=101, stderr=CARGO_OFFLINE)
    with pytest.raises(CrateError) as caught:
        CrateVendor(cargo="cargo", run=cargo)(
            rust_sdist(make_sdist), tmp_path, name="demo", version="1.0", target=TARGET
        )
    assert str(caught.value) == (
        "demo==1.0 compiles Rust, and its crates cannot be fetched: the crate registry "
        "(crates.io) is not reachable from this machine ([6] Could not resolve hostname "
        "(Could not resolve host: index.crates.io)). The offline build needs every crate of "
        "its Cargo.lock. Make index.crates.io and static.crates.io reachable (a proxy: "
        "HTTPS_PROXY), or point cargo at a mirror in ~/.cargo/config.toml ([source.crates-io] "
        "replace-with = ...), or use a release of demo that has a wheel for "
        "cp311-manylinux_2_36_aarch64"
    )
    assert not (tmp_path / ".cargo").exists()


def test_another_cargo_failure_names_cargos_reason(
    make_sdist: SdistFactory, tmp_path: Path
) -> None:
    stderr = "error: failed to sync\n\nCaused by:\n  the lock file needs to be updated\n"
    with pytest.raises(CrateError) as caught:
        CrateVendor(cargo="cargo", run=FakeCargo(code=101, stderr=stderr))(
            rust_sdist(make_sdist), tmp_path, name="demo", version="1.0", target=TARGET
        )
    assert str(caught.value) == (
        "demo==1.0: `cargo vendor` of its Rust crates failed (exit 101): "
        "the lock file needs to be updated"
    )


def test_no_cargo_on_this_machine_says_so(
    make_sdist: SdistFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(CrateError) as caught:
        CrateVendor(run=FakeCargo())(
            rust_sdist(make_sdist), tmp_path, name="demo", version="1.0", target=TARGET
        )
    assert str(caught.value) == (
        "demo==1.0 compiles Rust: its crates must be fetched on this machine with `cargo "
        "vendor` (the build container is offline), and cargo is not installed here. Install "
        "cargo (`apt-get install cargo`, or rustup), or use a release of demo that has a "
        "wheel for cp311-manylinux_2_36_aarch64"
    )


def test_a_project_without_crates_still_gets_an_offline_config(tmp_path: Path) -> None:
    text = container_config("", tmp_path / "vendor")
    assert 'directory = "/wheelhouse/deps/.cargo/vendor"' in text
    assert text.endswith("[net]\noffline = true\n")
