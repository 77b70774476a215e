#!/bin/sh
# Cross-compile zlib, libffi and CPython for aarch64 musl on amd64. Runs inside a throwaway container of
# wheelhouse-test/musl-python:3.13-amd64 (started by scripts/build-musl-images.sh), whose own musl
# python3.13 serves as configure's --with-build-python. Compiling CPython under QEMU instead was measured at
# 30-40 min; this takes a few minutes.
#
# In:  /src/zlib, /src/libffi, /src/python (read-only upstream sources); env MIRROR (Debian mirror URL).
# Out: /out/cross-usr-local.tgz holding usr/local for the arm64 image (Dockerfile stage assembled-cross).
set -eu

T=aarch64-linux-musl          # musl triplet, also the name of the musl-gcc wrapper for the target
GNU=aarch64-linux-gnu         # Debian's cross gcc is a glibc toolchain; musl-gcc's specs retarget it
M=aarch64                     # musl's arch name (ld-musl-$M.so.1)
D=/usr/lib/$T                 # where Debian's musl-dev:arm64 puts libc, crt files and musl-gcc.specs
STAGE=/opt/sysroot-arm64      # DESTDIR of every install; $STAGE/usr/local becomes the image's /usr/local
S=$STAGE/usr/local
CC=$T-gcc
JOBS=$(nproc)

t0=$(date +%s)
step() { echo "[cross] $(($(date +%s) - t0))s: $*"; }

step "toolchain: Debian's gcc-$GNU (bookworm) + trixie's musl:arm64"
apt-get update -qq
# (linux-libc-dev-arm64-cross is only a Recommends of the cross gcc, through libc6-dev-arm64-cross)
apt-get install -y -qq --no-install-recommends "gcc-$GNU" linux-libc-dev-arm64-cross >/dev/null
# Same private-apt-list trick as in the Dockerfile: musl 1.2.5 is only in trixie, and musl-dev cannot be
# installed on bookworm (it depends on gcc-<triplet>), so the .debs are unpacked, not installed.
dpkg --add-architecture arm64
mkdir -p /tmp/tl/partial /tmp/tp /tmp/debs
echo "deb [arch=arm64] $MIRROR trixie main" >/tmp/trixie.list
O="-o Dir::Etc::SourceList=/tmp/trixie.list -o Dir::Etc::SourceParts=/tmp/tp -o Dir::State::Lists=/tmp/tl"
O="$O -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= -o APT::Architectures::=arm64"
# shellcheck disable=SC2086  # $O is a list of options
apt-get $O update -qq
cd /tmp/debs
# shellcheck disable=SC2086
apt-get $O download musl:arm64 musl-dev:arm64
for d in *.deb; do dpkg-deb -x "$d" /; done

# The same Alpine look-alike fixes as in the image (see the Dockerfile), for the target's libc:
# soname libc.musl-aarch64.so.1 in the linker's libc.so, headers and libs of the staging prefix visible to
# the compiler, kernel headers, and no outline atomics (they need glibc's __getauxval).
mv "$D/libc.so" "$D/libc.musl-$M.so.1"
ln -sf "$T/libc.musl-$M.so.1" "/usr/lib/ld-musl-$M.so.1"
cp "$D/libc.musl-$M.so.1" "$D/libc.so"
patchelf --set-soname "libc.musl-$M.so.1" "$D/libc.so"
sed -i -e "s@-isystem include%s@-isystem include%s -isystem $S/include@" \
    -e "s@^-L/usr/lib/$T@-L$S/lib -L/usr/lib/$T@" \
    -e 's@^%(cc1_cpu) -nostdinc@%(cc1_cpu) -mno-outline-atomics -nostdinc@' "$D/musl-gcc.specs"
grep -q -- -mno-outline-atomics "$D/musl-gcc.specs"
for d in linux asm-generic mtd; do ln -s "../$d" "/usr/include/$T/$d"; done
# linux-libc-dev-arm64-cross keeps the arm64 asm/ headers under /usr/$GNU/include.
ln -s "/usr/$GNU/include/asm" "/usr/include/$T/asm"

printf '#include <stdio.h>\nint main(void){puts("hello from aarch64 musl");return 0;}\n' >/tmp/h.c
$CC /tmp/h.c -o /tmp/h
readelf -h /tmp/h | grep -q 'AArch64'
readelf -d /tmp/h | grep NEEDED
/tmp/h  # runs through QEMU binfmt and the ld-musl-aarch64 link made above

step "zlib + libffi"
mkdir -p /b
cp -a /src/zlib /src/libffi /src/python /b/
cd /b/zlib
CC=$CC CHOST=$M ./configure --prefix=/usr/local >/dev/null
make -j"$JOBS" >/dev/null
make install DESTDIR=$STAGE >/dev/null
rm -f "$S/lib/libz.a"
cd /b/libffi
./configure --host=$T --prefix=/usr/local --disable-static --disable-multi-os-directory --disable-docs \
    CC=$CC >/dev/null
make -j"$JOBS" >/dev/null
make install DESTDIR=$STAGE >/dev/null

step "CPython configure"
cd /b/python
# configure rejects a musl/glibc triplet mismatch (gcc reports a -gnu multiarch), and cannot probe
# getaddrinfo or /dev/ptmx on a target it cannot run: those answers are given.
# shellcheck disable=SC2016  # the $(...) is configure's text, not ours
sed -i 's@MULTIARCH=$($CC --print-multiarch 2>/dev/null)@MULTIARCH=$($CC --print-multiarch 2>/dev/null | sed s/-gnu$/-musl/)@' configure
./configure --prefix=/usr/local --build=x86_64-linux-musl --host=$T --with-build-python=/usr/local/bin/python3.13 \
    --enable-option-checking=fatal --disable-test-modules --without-ensurepip \
    ac_cv_file__dev_ptmx=yes ac_cv_file__dev_ptc=no ac_cv_buggy_getaddrinfo=no CC=$CC >/tmp/configure.log 2>&1 ||
    { tail -n 30 /tmp/configure.log; exit 1; }
grep -E 'platform triplet' /tmp/configure.log

step "CPython make"
# Without -g on the command line only, as in the Dockerfile's native build (the Makefile, hence sysconfig,
# keeps configure's OPT): everything is stripped of debug info below anyway.
OPT_NO_G=$(sed -n 's/^OPT=[[:space:]]*//p' Makefile | sed -e 's/^/ /' -e 's/$/ /' -e 's/ -g / /g')
case $OPT_NO_G in *-O*) ;; *) echo "unexpected OPT in Makefile: $OPT_NO_G" >&2; exit 1 ;; esac
make -j"$JOBS" OPT="$OPT_NO_G" >/tmp/make.log 2>&1 || { tail -n 30 /tmp/make.log; exit 1; }
step "CPython install"
make install DESTDIR=$STAGE >/tmp/install.log 2>&1 || { tail -n 30 /tmp/install.log; exit 1; }

# pip from the target's own bundled wheel, installed by the build Python (same version, same
# /usr/local/bin/python3.13 path for the scripts' shebangs): pure Python and portable .pyc files, so it need
# not run under QEMU later. Not `ensurepip --root`: that finds the build Python's own pip "already
# satisfied" and installs nothing; --ignore-installed is what makes pip write into the staging root.
step "pip from the bundled wheel"
/usr/local/bin/python3.13 -m pip install --no-index --no-cache-dir --ignore-installed --root $STAGE \
    --disable-pip-version-check --root-user-action=ignore --no-warn-script-location "$S"/lib/python3.13/ensurepip/_bundled/pip-*.whl
ls "$S/bin/pip3" "$S"/lib/python3.13/site-packages/pip/__init__.py
head -n 1 "$S/bin/pip3"
# Same clean-up as the native image: no test suites, no -O/-OO .pyc variants.
find "$S" -depth -type d \( -name test -o -name tests -o -name idle_test \) -exec rm -rf '{}' +
find "$S" -type f \( -name '*.opt-1.pyc' -o -name '*.opt-2.pyc' \) -delete

readelf -h "$S/bin/python3.13" | grep -q AArch64
readelf -l "$S/bin/python3.13" | grep interpreter
for m in _ctypes zlib _struct; do ls "$S/lib/python3.13/lib-dynload/$m".*.so; done
find "$S" -type f \( -name '*.so' -o -name '*.so.*' -o -name '*.a' -o -name python3.13 \) \
    -exec "$GNU-strip" --strip-debug '{}' +
tar -C $STAGE -czf /out/cross-usr-local.tgz usr/local
step "done: $(du -h /out/cross-usr-local.tgz | cut -f1) /out/cross-usr-local.tgz"
