"""Regression cases of the input fuzz (scripts/fuzz_inputs.py): each once ended in a traceback.

The three crash classes: a wheelhouse.yaml that is not UTF-8; a malformed URL
(``https://[pypi.org/simple``: "Invalid IPv6 URL") in a uv.lock source or a requirements
line; the same through ``ipaddress`` (``https://[package]/simple``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.config import load_config
from orchestrator.errors import ConfigError, RequirementsError
from orchestrator.paths import read_text
from orchestrator.plan.requirements import parse_requirements
from orchestrator.plan.uvlock import parse_uv_lock
from orchestrator.pypi.index import IndexConfig
from orchestrator.urls import (
    mask_userinfo,
    masked,
    shown_location,
    split_url,
    url_path_name,
    url_problem,
    url_to_path,
)

IPV6 = "https://[pypi.org/simple"
IPADDRESS = "https://[package]/simple"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        (IPV6, f"malformed URL {IPV6!r}: Invalid IPv6 URL"),
        (
            IPADDRESS,
            f"malformed URL {IPADDRESS!r}: 'package' does not appear to be an IPv4 or IPv6 address",
        ),
        (
            "https://pypi.org:abc/",
            "malformed URL 'https://pypi.org:abc/': "
            "Port could not be cast to integer value as 'abc'",
        ),
        ("https:///simple", "malformed URL 'https:///simple': no host name"),
        ("https://pypi.org/simple", None),
        ("https://[::1]:8080/simple", None),
        ("file:///srv/wheels", None),
    ],
)
def test_url_problem(url: str, problem: str | None) -> None:
    assert url_problem(url) == problem


def test_split_url_never_raises() -> None:
    assert split_url(IPV6) is None
    assert split_url(IPADDRESS) is None
    assert url_path_name(IPV6 + "/six-1.0.tar.gz") == ""
    assert url_path_name("https://h/a/six-1.0.tar.gz") == "six-1.0.tar.gz"


def test_wheelhouse_yaml_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "wheelhouse.yaml"
    path.write_bytes(b"output: out\n# caf\xe9\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.message == f"{path}:2: not UTF-8 text (byte 17: invalid continuation byte)"
    assert info.value.hint == "save the file as UTF-8"


def test_read_text_drops_the_bom_and_names_a_directory(tmp_path: Path) -> None:
    path = tmp_path / "r.txt"
    path.write_bytes(b"\xef\xbb\xbfsix\n")
    assert read_text(path, what="file", error=RequirementsError, hint="h") == "six\n"
    with pytest.raises(RequirementsError, match=f"cannot read file {tmp_path}"):
        read_text(tmp_path, what="file", error=RequirementsError, hint="h")


@pytest.mark.parametrize("url", [IPV6, IPADDRESS])
@pytest.mark.parametrize("option", ["--index-url", "--extra-index-url"])
def test_requirements_index_option(tmp_path: Path, option: str, url: str) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text(f"six==1.16.0\n{option} {url}\n")
    with pytest.raises(RequirementsError) as info:
        parse_requirements(path)
    assert info.value.message.startswith(f"{path}:2: {option} {url}\n  {option}: malformed URL")


@pytest.mark.parametrize("line", [f"six @ {IPV6}/six.whl", f"{IPADDRESS}/six-1.0.tar.gz"])
def test_requirements_direct_url(tmp_path: Path, line: str) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text(line + "\n")
    with pytest.raises(RequirementsError, match=r":1: .*\n  the URL: malformed URL"):
        parse_requirements(path)


LOCK = """\
version = 1
requires-python = ">=3.11"

[[package]]
name = "app"
version = "0.1.0"
source = {{ virtual = "." }}
dependencies = [{{ name = "six" }}]

[[package]]
name = "six"
version = "1.16.0"
source = {{ registry = "{registry}" }}
sdist = {{ url = "{sdist}", hash = "sha256:{digest}" }}
"""


@pytest.mark.parametrize(
    ("registry", "sdist", "field"),
    [
        (IPV6, "https://files.example/six-1.16.0.tar.gz", "package[1].source.registry"),
        (IPADDRESS, "https://files.example/six-1.16.0.tar.gz", "package[1].source.registry"),
        ("https://pypi.org/simple", IPV6 + "/six-1.16.0.tar.gz", "package[1].sdist.url"),
    ],
)
def test_uv_lock_malformed_url(tmp_path: Path, registry: str, sdist: str, field: str) -> None:
    path = tmp_path / "uv.lock"
    path.write_text(LOCK.format(registry=registry, sdist=sdist, digest="0" * 64))
    with pytest.raises(RequirementsError) as info:
        parse_uv_lock(path)
    assert info.value.message.startswith(f"{path}: {field}: malformed URL")


def test_uv_lock_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "uv.lock"
    path.write_bytes(b"version = 1\n# \xff\n")
    with pytest.raises(RequirementsError, match=r"uv.lock:2: not UTF-8 text \(byte 14"):
        parse_uv_lock(path)


def test_config_index_urls(tmp_path: Path) -> None:
    path = tmp_path / "wheelhouse.yaml"
    path.write_text(f"index:\n  extra_urls: [https://pypi.org/simple, '{IPV6}']\n")
    with pytest.raises(ConfigError, match=r"index\.extra_urls\[1\].*malformed URL"):
        load_config(path)


def test_environment_index_url() -> None:
    with pytest.raises(ConfigError, match="environment variable PIP_EXTRA_INDEX_URL: malformed"):
        IndexConfig.resolve(environ={"PIP_EXTRA_INDEX_URL": f"https://a.example {IPADDRESS}"})


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:secret@git.example/org/repo.git", "https://****@git.example/org/repo.git"),
        ("https://token@git.example:8443/r", "https://****@git.example:8443/r"),
        ("https://git.example/r", "https://git.example/r"),
        ("file:///srv/wheels/a%20b-1.0.tar.gz", "/srv/wheels/a b-1.0.tar.gz"),
    ],
)
def test_shown_location_masks_credentials_and_shows_paths(url: str, shown: str) -> None:
    assert shown_location(url) == shown


def test_masked_keeps_a_url_without_credentials_as_it_is() -> None:
    assert masked("git+https://x.example/r@v1") == "git+https://x.example/r@v1"
    assert url_to_path("file:///srv/wheels") == "/srv/wheels"


def test_mask_userinfo_masks_every_url_in_a_text() -> None:
    text = "fatal: https://me:tok@git.example/r and ssh://git@h.example/x, not a@b.example"
    assert mask_userinfo(text) == (
        "fatal: https://****@git.example/r and ssh://****@h.example/x, not a@b.example"
    )


def test_a_requirements_error_quoting_a_git_line_masks_its_credentials(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text("git+https://me:tok@git.example/org/tool@v1\n")
    with pytest.raises(RequirementsError) as info:
        parse_requirements(path)
    assert "tok" not in info.value.message
    assert "git+https://****@git.example/org/tool@v1" in info.value.message
