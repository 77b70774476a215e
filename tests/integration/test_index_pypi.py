"""IndexClient against the real PyPI (``-m network``)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from packaging.utils import NormalizedName
from packaging.version import Version

from orchestrator.model import ProjectPage
from orchestrator.pypi.httpcache import HttpCache
from orchestrator.pypi.index import IndexClient, IndexConfig

pytestmark = pytest.mark.network


class CountingTransport(httpx.AsyncBaseTransport):
    """The real transport, counting the requests that reach the network."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.count = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.count += 1
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def test_real_pages_and_a_warm_cache(tmp_path: Path) -> None:
    transport = CountingTransport()
    index = IndexClient(IndexConfig(), cache=HttpCache(tmp_path), transport=transport)
    names = ["cffi", "RPi.GPIO", "wheelhouse-no-such-project-7f3a9c"]

    pages = index.get_projects_sync(names)

    cffi, gpio = pages["cffi"], pages["rpi-gpio"]  # type: ignore[index]
    assert cffi is not None
    assert gpio is not None
    wheel = next(
        f for f in cffi.files if f.filename == "cffi-1.17.1-cp312-cp312-musllinux_1_1_aarch64.whl"
    )
    assert wheel.sha256 is not None
    assert len(wheel.sha256) == 64
    assert wheel.url.startswith("https://")
    gpio_071 = [f.filename for f in gpio.files if f.filename.startswith("RPi.GPIO-0.7.1.")]
    assert gpio_071 == ["RPi.GPIO-0.7.1.tar.gz"]
    assert pages["wheelhouse-no-such-project-7f3a9c"] is None  # type: ignore[index]
    assert transport.count == 3

    again = index.get_projects_sync(names)

    assert transport.count == 3
    assert again == pages

    versions = {NormalizedName("cffi"): [Version("1.17.1")], NormalizedName("rpi-gpio"): []}
    narrowed = index.get_projects_sync(names, versions=versions)

    assert transport.count == 3  # from the warm cache, which reads only those releases
    cffi_1171 = narrowed[NormalizedName("cffi")]
    assert cffi_1171 is not None
    assert wheel in cffi_1171.files
    assert cffi_1171.files == tuple(
        f for f in cffi.files if f.filename.startswith(("cffi-1.17.1-", "cffi-1.17.1."))
    )
    assert narrowed[NormalizedName("rpi-gpio")] == ProjectPage(name=gpio.name, files=())
    assert narrowed[NormalizedName("wheelhouse-no-such-project-7f3a9c")] is None
