#!/bin/sh
# Offline smoke test run inside a wheelhouse-test/musl-python image by scripts/build-musl-images.sh.
# Usage: check-image.sh EXPECTED_UNAME_M   (x86_64 or aarch64)
# Checks what the tests rely on: the architecture, a musl-linked CPython 3.13 with ctypes/zlib, pip, a
# working musl-gcc, and no apk (this is a Debian system with a musl Python, not Alpine).
set -eu
want=$1
fail() { echo "check-image: FAIL: $*" >&2; exit 1; }

[ "$(uname -m)" = "$want" ] || fail "uname -m is $(uname -m), expected $want"
python3 -c 'import sys, ctypes, zlib; print(sys.version)'
python3 -c 'import sys; assert sys.version_info[:2] == (3, 13), sys.version'
suffix=$(python3 -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
case $suffix in *"$want-linux-musl"*) ;; *) fail "EXT_SUFFIX is $suffix" ;; esac

# ldd-style: the musl loader, run as *ldd, lists what python3.13 links against.
deps=$(musl-ldd /usr/local/bin/python3.13 2>&1)
echo "$deps"
echo "$deps" | grep -q "libc.musl-$want.so.1" || fail "python3.13 does not link libc.musl-$want.so.1"
if echo "$deps" | grep -q 'libc.so.6'; then fail "python3.13 links glibc"; fi

python3 -m pip --version
if command -v apk >/dev/null 2>&1; then fail "apk is present"; fi

printf '#include <stdio.h>\nint main(void){puts("musl-gcc ok");return 0;}\n' >/tmp/c.c
musl-gcc /tmp/c.c -o /tmp/c
/tmp/c
rm -f /tmp/c /tmp/c.c
echo "check-image: OK ($want, python $(python3 -c 'import platform; print(platform.python_version())'), $suffix)"
