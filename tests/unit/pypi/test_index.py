"""IndexClient and IndexConfig against ``httpx.MockTransport``: no network, no waiting."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from packaging.utils import NormalizedName
from packaging.version import Version

from orchestrator.errors import IndexUnavailableError
from orchestrator.model import ProjectPage, ReleaseFile
from orchestrator.pypi.index import SIMPLE_JSON, IndexClient, IndexConfig, parse_project_files

PYPI = "https://pypi.org/simple"
EXTRA = "https://extra.example/simple"

Handler = Callable[[httpx.Request], httpx.Response]


def page(*files: dict[str, Any], api: str = "1.1") -> dict[str, Any]:
    return {"meta": {"api-version": api}, "name": "x", "files": list(files)}


def entry(filename: str, url: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "filename": filename,
        "url": url or f"https://files.example/{filename}",
        "hashes": {"sha256": "ab" * 32},
        **extra,
    }


def answer(data: Any, status: int = 200, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=data, headers={"content-type": SIMPLE_JSON, **headers})


class Sleeps:
    """A fake ``asyncio.sleep`` that records the delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def client(
    handler: Handler,
    config: IndexConfig | None = None,
    sleeps: Sleeps | None = None,
    **options: Any,
) -> IndexClient:
    return IndexClient(
        config or IndexConfig(),
        cache=None,
        transport=httpx.MockTransport(handler),
        sleep=sleeps or Sleeps(),
        jitter=lambda: 0.0,
        **options,
    )


def fetch(index: IndexClient, *names: str) -> dict[str, ProjectPage | None]:
    pages = asyncio.run(index.get_projects(names))
    return {str(name): page for name, page in pages.items()}


def test_parses_files_and_resolves_relative_urls() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url == "https://pypi.org/simple/cffi/"
        return answer(
            page(
                entry("cffi-1.0.tar.gz", "../../packages/cffi-1.0.tar.gz", size=123),
                entry("cffi-1.0-py3-none-any.whl", "https://cdn.example/c.whl", hashes={}),
                entry("cffi-2.0.tar.gz", "files/cffi-2.0.tar.gz", **{"requires-python": ">=3.9"}),
            )
        )

    result = fetch(client(handler), "cffi")

    assert result == {
        "cffi": ProjectPage(
            name=NormalizedName("cffi"),
            files=(
                ReleaseFile(
                    filename="cffi-1.0.tar.gz",
                    url="https://pypi.org/packages/cffi-1.0.tar.gz",
                    sha256="ab" * 32,
                    size=123,
                ),
                ReleaseFile(filename="cffi-1.0-py3-none-any.whl", url="https://cdn.example/c.whl"),
                ReleaseFile(
                    filename="cffi-2.0.tar.gz",
                    url="https://pypi.org/simple/cffi/files/cffi-2.0.tar.gz",
                    sha256="ab" * 32,
                    requires_python=">=3.9",
                ),
            ),
        )
    }


@pytest.mark.parametrize(
    ("yanked", "expected"),
    [(False, None), (True, ""), ("broken on 3.12", "broken on 3.12"), ("", None)],
)
def test_yanked_variants(yanked: bool | str, expected: str | None) -> None:
    index = client(lambda r: answer(page(entry("a-1.tar.gz", yanked=yanked))))

    result = fetch(index, "a")["a"]

    assert result is not None
    assert result.files[0].yanked == expected


def test_missing_yanked_means_not_yanked() -> None:
    result = fetch(client(lambda r: answer(page(entry("a-1.tar.gz")))), "a")["a"]

    assert result is not None
    assert result.files[0].yanked is None


def test_names_are_normalized_and_asked_once() -> None:
    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        assert request.headers["accept"] == SIMPLE_JSON
        return answer(page(entry("RPi.GPIO-0.7.1.tar.gz")))

    result = fetch(client(handler), "RPi.GPIO", "rpi_gpio", "Rpi-Gpio")

    assert asked == ["/simple/rpi-gpio/"]
    assert list(result) == ["rpi-gpio"]


def test_404_means_not_on_the_index() -> None:
    index = client(lambda r: httpx.Response(404, text="Not Found"))

    assert fetch(index, "no-such-project") == {"no-such-project": None}


def test_extra_indexes_are_merged_main_first() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "pypi.org":
            if request.url.path == "/simple/only-extra/":
                return httpx.Response(404)
            return answer(page(entry("a-1.whl", "https://pypi/a"), entry("a-1.tar.gz")))
        return answer(page(entry("a-1.whl", "https://extra/a"), entry("a-1-armv7l.whl")))

    config = IndexConfig(index_url=PYPI, extra_index_urls=(EXTRA + "/",))
    result = fetch(client(handler, config), "a", "only-extra")

    merged = result["a"]
    assert merged is not None
    assert [(f.filename, f.url) for f in merged.files] == [
        ("a-1.whl", "https://pypi/a"),
        ("a-1.tar.gz", "https://files.example/a-1.tar.gz"),
        ("a-1-armv7l.whl", "https://files.example/a-1-armv7l.whl"),
    ]
    only_extra = result["only-extra"]
    assert only_extra is not None
    assert [f.url for f in only_extra.files] == [
        "https://extra/a",
        "https://files.example/a-1-armv7l.whl",
    ]


def test_not_on_any_index_is_none() -> None:
    config = IndexConfig(extra_index_urls=(EXTRA,))

    assert fetch(client(lambda r: httpx.Response(404), config), "x") == {"x": None}


def test_retries_on_503_then_succeeds() -> None:
    statuses = iter([503, 502, 200])
    sleeps = Sleeps()

    def handler(request: httpx.Request) -> httpx.Response:
        status = next(statuses)
        return answer(page(entry("a-1.tar.gz")) if status == 200 else {}, status)

    result = fetch(client(handler, sleeps=sleeps), "a")

    assert result["a"] is not None
    assert sleeps.delays == [0.5, 1.0]


def test_gives_up_after_all_tries() -> None:
    calls: list[int] = []
    sleeps = Sleeps()

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(503)

    with pytest.raises(IndexUnavailableError) as caught:
        fetch(client(handler, sleeps=sleeps, retries=4), "cffi")

    assert caught.value.message == (
        "package index https://pypi.org/simple did not answer for cffi after 5 tries: "
        "HTTP 503 Service Unavailable"
    )
    assert caught.value.hint is not None
    assert "PIP_INDEX_URL" in caught.value.hint
    assert len(calls) == 5
    assert sleeps.delays == [0.5, 1.0, 2.0, 4.0]


def test_timeouts_and_dropped_connections_are_retried() -> None:
    failures: list[Exception] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if len(failures) == 0:
            failures.append(httpx.ReadTimeout("timed out", request=request))
            raise failures[-1]
        if len(failures) == 1:
            failures.append(httpx.ConnectError("connection refused", request=request))
            raise failures[-1]
        return answer(page(entry("a-1.tar.gz")))

    sleeps = Sleeps()
    result = fetch(client(handler, sleeps=sleeps), "a")

    assert result["a"] is not None
    assert sleeps.delays == [0.5, 1.0]


def test_a_refused_connection_fails_after_two_tries() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        raise httpx.ConnectError("[Errno -2] Name or service not known", request=request)

    sleeps = Sleeps()
    with pytest.raises(IndexUnavailableError) as caught:
        fetch(client(handler, sleeps=sleeps), "a")
    assert caught.value.message == (
        "package index https://pypi.org/simple cannot be reached (asking for a, 2 tries): "
        "ConnectError: [Errno -2] Name or service not known"
    )
    assert len(calls) == 2
    assert sleeps.delays == [0.5]


def test_last_timeout_is_the_cause() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("timed out", request=request)

    with pytest.raises(IndexUnavailableError) as caught:
        fetch(client(handler, retries=2), "a")

    assert caught.value.message == (
        "package index https://pypi.org/simple did not answer for a after 3 tries: "
        "ConnectTimeout: timed out"
    )


def test_backoff_has_jitter_and_honours_retry_after() -> None:
    statuses = iter([429, 503, 200])
    sleeps = Sleeps()

    def handler(request: httpx.Request) -> httpx.Response:
        status = next(statuses)
        if status == 429:
            return httpx.Response(429, headers={"retry-after": "7"})
        return answer(page(entry("a-1.tar.gz")) if status == 200 else {}, status)

    index = IndexClient(
        IndexConfig(),
        cache=None,
        transport=httpx.MockTransport(handler),
        sleep=sleeps,
        jitter=lambda: 0.5,
    )
    fetch(index, "a")

    assert sleeps.delays == [7.0, 1.5]


def test_html_only_index_is_refused_with_a_hint() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, html="<html><a href='a-1.tar.gz'>a-1.tar.gz</a></html>")

    with pytest.raises(IndexUnavailableError) as caught:
        fetch(client(handler, IndexConfig(index_url="https://old.example/simple/")), "a")

    assert caught.value.message == (
        "package index https://old.example/simple answered text/html for a, not the JSON Simple API"
    )
    assert caught.value.hint is not None
    assert "PEP 691" in caught.value.hint


def test_malformed_page_names_the_field() -> None:
    broken = page(entry("a-1.tar.gz"), {"filename": "a-2.tar.gz", "hashes": {}})

    with pytest.raises(IndexUnavailableError) as caught:
        fetch(client(lambda r: answer(broken)), "a")

    assert caught.value.message == (
        "package index https://pypi.org/simple sent a malformed page for a: "
        "files[1].url is missing or not a string"
    )


def test_unknown_major_api_version_is_refused() -> None:
    with pytest.raises(IndexUnavailableError, match=r"meta.api-version is 2.0"):
        fetch(client(lambda r: answer(page(api="2.0"))), "a")


def test_refused_access_hides_credentials() -> None:
    config = IndexConfig(index_url="https://me:s3cret@private.example/simple")

    with pytest.raises(IndexUnavailableError) as caught:
        fetch(client(lambda r: httpx.Response(401), config), "a")

    assert caught.value.message == (
        "package index https://****@private.example/simple refused access to a (HTTP 401)"
    )


def test_concurrency_is_bounded() -> None:
    in_flight = 0
    peak = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        for _ in range(5):
            await asyncio.sleep(0)
        in_flight -= 1
        return answer(page(entry("a-1.tar.gz")))

    index = IndexClient(
        IndexConfig(), cache=None, transport=httpx.MockTransport(handler), max_concurrency=3
    )
    result = fetch(index, *(f"p{i}" for i in range(20)))

    assert len(result) == 20
    assert peak == 3


def test_progress_reports_each_project() -> None:
    seen: list[str] = []

    fetch(client(lambda r: httpx.Response(404), progress=seen.append), "B", "a")

    assert sorted(seen) == ["a", "b"]


def test_sync_wrapper() -> None:
    index = client(lambda r: answer(page(entry("a-1.tar.gz"))))

    result = index.get_projects_sync(["a"])

    assert list(result) == ["a"]


def test_resolve_precedence_requirements_over_env_over_config() -> None:
    environ = {
        "PIP_INDEX_URL": "https://env.example/simple",
        "PIP_EXTRA_INDEX_URL": "https://e1.example/simple  https://shared.example/simple/",
    }

    config = IndexConfig.resolve(
        config_url="https://yaml.example/simple",
        config_extra=["https://shared.example/simple", "https://y1.example/simple"],
        requirements_url="https://req.example/simple/",
        requirements_extra=["https://r1.example/simple", "https://req.example/simple"],
        environ=environ,
    )

    assert config == IndexConfig(
        index_url="https://req.example/simple",
        extra_index_urls=(
            "https://r1.example/simple",
            "https://e1.example/simple",
            "https://shared.example/simple",
            "https://y1.example/simple",
        ),
    )


def test_resolve_falls_back_to_env_then_config_then_pypi() -> None:
    env = {"PIP_INDEX_URL": "https://env.example/simple"}

    assert IndexConfig.resolve(config_url="https://y/simple", environ=env).index_url == (
        "https://env.example/simple"
    )
    assert IndexConfig.resolve(config_url="https://y/simple", environ={}).index_url == (
        "https://y/simple"
    )
    assert IndexConfig.resolve(environ={"PIP_INDEX_URL": ""}) == IndexConfig()


def test_untrusted_certificate_is_not_retried() -> None:
    sleeps = Sleeps()

    def handler(request: httpx.Request) -> httpx.Response:
        message = "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"
        raise httpx.ConnectError(message, request=request)

    with pytest.raises(IndexUnavailableError) as caught:
        fetch(client(handler, sleeps=sleeps), "a")

    assert caught.value.message.startswith(
        "package index https://pypi.org/simple sent a certificate that is not trusted "
        "(asking for a)"
    )
    assert caught.value.hint is not None
    assert "SSL_CERT_FILE" in caught.value.hint
    assert sleeps.delays == []


def test_unsupported_url_scheme_fails_at_once() -> None:
    config = IndexConfig(index_url="ftp://mirror.example/simple")
    index = IndexClient(config, cache=None)  # the real transport refuses ftp:// itself

    with pytest.raises(IndexUnavailableError) as caught:
        fetch(index, "a")

    assert caught.value.message == (
        "package index ftp://mirror.example/simple could not be asked for a: "
        "UnsupportedProtocol: Request URL has an unsupported protocol 'ftp://'."
    )


def test_no_names_no_requests() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request expected")

    assert fetch(client(handler)) == {}


def test_versions_narrow_each_page_to_those_releases() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/simple/gone/":
            return httpx.Response(404)
        name = request.url.path.split("/")[2]
        wheel = name.replace("-", "_")
        return answer(
            page(
                entry(f"{name}-1.0.tar.gz"),
                entry(f"{wheel}-2.0-py3-none-any.whl"),
                entry(f"{wheel}-1.0.0-py3-none-any.whl"),
                entry(f"{name}-latest.tar.gz"),
            )
        )

    wanted = {
        NormalizedName("a"): [Version("1.0")],
        NormalizedName("Other_Name"): [Version("2"), Version("1")],  # normalized here
        NormalizedName("c"): [Version("3.0")],
        NormalizedName("gone"): [Version("1.0")],
    }
    pages = asyncio.run(
        client(handler).get_projects(["a", "other-name", "c", "gone", "d"], versions=wanted)
    )

    def filenames(name: str) -> list[str] | None:
        found = pages[NormalizedName(name)]
        return None if found is None else [f.filename for f in found.files]

    assert filenames("a") == ["a-1.0.tar.gz", "a-1.0.0-py3-none-any.whl"]
    assert filenames("other-name") == [
        "other-name-1.0.tar.gz",
        "other_name-2.0-py3-none-any.whl",
        "other_name-1.0.0-py3-none-any.whl",
    ]
    assert filenames("c") == []  # on the index, without that release: a page, empty
    assert filenames("gone") is None  # not on the index at all
    assert filenames("d") == [  # not named in ``versions``: every file
        "d-1.0.tar.gz",
        "d-2.0-py3-none-any.whl",
        "d-1.0.0-py3-none-any.whl",
        "d-latest.tar.gz",
    ]


def test_versions_narrow_the_pages_of_every_index_before_the_merge() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "pypi.org":
            return answer(page(entry("a-1.tar.gz", "https://pypi/a1"), entry("a-2.tar.gz")))
        return answer(page(entry("a-1.tar.gz", "https://extra/a1"), entry("a-1-py3-none-any.whl")))

    config = IndexConfig(index_url=PYPI, extra_index_urls=(EXTRA,))
    index = client(handler, config)

    result = index.get_projects_sync(["a"], versions={NormalizedName("a"): [Version("1")]})

    merged = result[NormalizedName("a")]
    assert merged is not None
    assert [(f.filename, f.url) for f in merged.files] == [
        ("a-1.tar.gz", "https://pypi/a1"),
        ("a-1-py3-none-any.whl", "https://files.example/a-1-py3-none-any.whl"),
    ]


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({}, None),
        ({"core-metadata": False}, None),
        ({"core-metadata": True}, ""),
        ({"core-metadata": {"sha256": "ab" * 32}}, "ab" * 32),
        ({"dist-info-metadata": {"sha256": "cd" * 32}}, "cd" * 32),
    ],
)
def test_pep_714_core_metadata_is_read(entry: dict[str, object], expected: str | None) -> None:
    data = {
        "meta": {"api-version": "1.1"},
        "files": [{"filename": "a-1.0-py3-none-any.whl", "url": "a.whl", **entry}],
    }
    files = parse_project_files(data, base_url="https://i.example/simple/a/")
    assert files[0].core_metadata == expected
