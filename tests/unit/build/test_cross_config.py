"""dockerfiles/cross-config.sh, run for real on a target tree of .pc files in tmp: the
config tools' answers for the target, and which tools get a stand-in."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from orchestrator.build.dockerfile import TEMPLATE_DIR

pytestmark = pytest.mark.skipif(
    shutil.which("pkg-config") is None, reason="the stand-ins answer with pkg-config"
)

SCRIPT = TEMPLATE_DIR / "cross-config.sh"
MULTIARCH = "usr/lib/aarch64-linux-gnu"
# Trimmed from Debian bookworm's arm64 -dev packages.
PC_FILES = {
    "libcurl.pc": """prefix=/usr
exec_prefix=${prefix}
libdir=${prefix}/lib/aarch64-linux-gnu
includedir=/usr/include/aarch64-linux-gnu
supported_protocols="DICT FILE HTTP HTTPS"
supported_features="AsynchDNS HTTP2 IPv6 SSL libz"

Name: libcurl
Description: Library to transfer files with ftp, http, etc.
Version: 7.88.1
Libs: -L${libdir} -lcurl
Libs.private: -lnghttp2 -lssl -lcrypto -lz
Cflags: -I${includedir}
""",
    "mysqlclient.pc": """prefix=/usr
includedir=${prefix}/include/mariadb/
libdir=${prefix}/lib/aarch64-linux-gnu/

Name: libmariadb
Version: 3.3.19
Description: MariaDB Connector/C dynamic library
Cflags: -I${includedir}
Libs: -L${libdir} -lmariadb
Libs.private: -lz -ldl -lm -lssl -lcrypto
""",
    "freetype2.pc": """prefix=/usr
exec_prefix=/usr
libdir=/usr/lib/aarch64-linux-gnu
includedir=/usr/include

Name: FreeType 2
Description: A free, high-quality, and portable font engine.
Version: 24.3.18
Libs: -L/usr/lib/aarch64-linux-gnu -lfreetype
Cflags: -I${includedir}/freetype2
""",
    "libxml-2.0.pc": """prefix=/usr
includedir=${prefix}/include

Name: libXML
Description: libXML library version2.
Version: 2.9.14
Libs: -lxml2
Cflags: -I${includedir}/libxml2
""",
}
FREETYPE_H = """#define FREETYPE_MAJOR  2
#define FREETYPE_MINOR  12
#define FREETYPE_PATCH  1
"""


def _target(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    root = tmp_path / "target"
    pcdir = root / MULTIARCH / "pkgconfig"
    pcdir.mkdir(parents=True)
    for name, text in PC_FILES.items():
        (pcdir / name).write_text(text)
    (root / "usr/include/freetype2/freetype").mkdir(parents=True)
    (root / "usr/include/freetype2/freetype/freetype.h").write_text(FREETYPE_H)
    return root, _env(tmp_path)


def _tool(tmp_path: Path, name: str) -> Path:
    path = tmp_path / "shims" / name
    path.parent.mkdir(exist_ok=True)
    shutil.copy(SCRIPT, path)
    path.chmod(0o755)
    return path


def _ask(tmp_path: Path, name: str, *options: str) -> subprocess.CompletedProcess[str]:
    """The stand-in for ``name`` asked ``options``, on the target tree (made once)."""
    env = _target(tmp_path)[1] if not (tmp_path / "target").exists() else _env(tmp_path)
    return subprocess.run(
        [str(_tool(tmp_path, name)), *options], env=env, capture_output=True, text=True, check=False
    )


def _env(tmp_path: Path) -> dict[str, str]:
    pcdir = tmp_path / "target" / MULTIARCH / "pkgconfig"
    return {
        **os.environ,
        "PKG_CONFIG_LIBDIR": str(pcdir),
        "PKG_CONFIG_SYSROOT_DIR": str(tmp_path / "target"),
        "PKG_CONFIG_PATH": "",
    }


def test_curl_config_answers_from_the_targets_libcurl_pc(tmp_path: Path) -> None:
    root = tmp_path / "target"
    assert _ask(tmp_path, "curl-config", "--version").stdout == "libcurl 7.88.1\n"
    flags = _ask(tmp_path, "curl-config", "--cflags", "--libs").stdout.split()
    assert flags == [f"-I{root}/usr/include/aarch64-linux-gnu", f"-L{root}/{MULTIARCH}", "-lcurl"]
    static = _ask(tmp_path, "curl-config", "--static-libs").stdout.split()
    assert static[-4:] == ["-lnghttp2", "-lssl", "-lcrypto", "-lz"]
    assert _ask(tmp_path, "curl-config", "--vernum").stdout == "075801\n"
    features = _ask(tmp_path, "curl-config", "--features").stdout
    assert features == "AsynchDNS\nHTTP2\nIPv6\nSSL\nlibz\n"
    assert _ask(tmp_path, "curl-config", "--ssl-backends").stdout == "OpenSSL\n"
    assert _ask(tmp_path, "curl-config", "--prefix").stdout == f"{root}/usr\n"


def test_mysql_config_and_freetype_config_answer_for_the_target(tmp_path: Path) -> None:
    root = tmp_path / "target"
    assert _ask(tmp_path, "mysql_config", "--version").stdout == "3.3.19\n"
    assert _ask(tmp_path, "mysql_config", "--include").stdout.split() == [
        f"-I{root}/usr/include/mariadb/"
    ]
    assert _ask(tmp_path, "mysql_config", "--libs_r").stdout.split() == [
        f"-L{root}/{MULTIARCH}/",
        "-lmariadb",
    ]
    assert _ask(tmp_path, "mysql_config", "--variable=pkglibdir").stdout == f"{root}/{MULTIARCH}/\n"
    assert _ask(tmp_path, "freetype-config", "--ftversion").stdout == "2.12.1\n"
    assert _ask(tmp_path, "freetype-config", "--version").stdout == "24.3.18\n"
    both = _ask(tmp_path, "xml2-config", "--cflags", "--libs").stdout
    assert both == f"-I{root}/usr/include/libxml2 -lxml2 \n"


def test_an_option_without_an_answer_fails_loudly(tmp_path: Path) -> None:
    asked = _ask(tmp_path, "curl-config", "--configure")
    assert asked.returncode == 2
    assert asked.stdout == ""
    assert asked.stderr.startswith(
        "curl-config (wheelhouse cross stage): --configure: not answered for the target"
        " (this stand-in answers from libcurl.pc:"
    )
    missing = _ask(tmp_path, "pg_config", "--includedir")
    assert missing.returncode == 2
    assert "the target has none of the pkg-config modules libpq" in missing.stderr


def test_install_writes_stand_ins_only_where_the_own_tool_cannot_answer(tmp_path: Path) -> None:
    _, env = _target(tmp_path)
    own = tmp_path / "own"
    own.mkdir()
    # A target program (mariadb_config is an arm64 ELF), a script that answers for the
    # target (Debian's curl-config) and one that names the build machine.
    (own / "mysql_config").write_bytes(b"\x7fELF\x02\x01\x01")
    (own / "curl-config").write_text("#! /bin/sh\necho -lcurl\n")
    (own / "xml2-config").write_text("#! /bin/sh\necho -L/usr/lib/x86_64-linux-gnu\n")
    for tool in own.iterdir():
        tool.chmod(0o755)
    shims = tmp_path / "bin"
    env["PATH"] = f"{shims}:{own}:{env['PATH']}"
    args = ["sh", str(SCRIPT), "install", str(shims), "x86_64-linux-gnu", "aarch64-linux-gnu"]
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=True)
    assert sorted(p.name for p in shims.iterdir()) == [
        "aarch64-linux-gnu-pkg-config",
        "freetype-config",
        "mariadb-config",
        "mariadb_config",
        "mysql_config",
        "xml2-config",
    ]
    assert f"curl-config: the target's own ({own}/curl-config)" in done.stdout
    assert f"mysql_config: answers from the target's mysqlclient.pc (not {own}/mysql_config)" in (
        done.stdout
    )
    asked = subprocess.run(
        [str(shims / "aarch64-linux-gnu-pkg-config"), "--modversion", "libcurl"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert asked.stdout == "7.88.1\n"


def test_each_answer_is_noted_for_the_build_log(tmp_path: Path) -> None:
    env = _target(tmp_path)[1]
    env["WHEELHOUSE_CONFIG_LOG"] = str(tmp_path / "asked.log")
    tool = _tool(tmp_path, "mysql_config")
    subprocess.run([str(tool), "--version"], env=env, check=True, capture_output=True)
    subprocess.run([str(tool), "--bogus"], env=env, check=False, capture_output=True)
    assert (
        tmp_path / "asked.log"
    ).read_text() == "mysql_config --version -> 3.3.19 (mysqlclient.pc)\n"
