#!/bin/sh
# Make the build machine's Python build extensions for the target, natively (no QEMU).
#
# Usage: cross-python.sh TARGET_ROOT PYTHON PYTHON_VERSION TRIPLET HOST_PLATFORM ENV_FILE
#
# TARGET_ROOT is the target base image's file system (bind-mounted, never executed). The
# target's `_sysconfigdata_*` module (compiler flags, EXT_SUFFIX, SOABI, include dirs) goes
# into the build Python's stdlib, and the target's Python headers over the build Python's
# own when the target image ships them (python:X.Y-slim keeps them in /usr/local/include).
# A Debian-packaged Python has them from `libpythonX.Y-dev:<arch>` (multiarch) instead.
# A musl TRIPLET (aarch64-linux-musl) means a target that carries its own musl-gcc: its C
# library, crt files, headers and musl-gcc.specs are used where they are (in TARGET_ROOT),
# driven by Debian's cross gcc for the architecture (musl_toolchain below).
# Library config tools that cannot answer for the target get stand-ins that do, first on the
# package stages' PATH (cross-config.sh, beside this script).
# Writes ENV_FILE for cross-build-wheel.sh; never fails the stage: a problem is written to
# ENV_FILE as WHEELHOUSE_CROSS_BROKEN, and every package stage reports it.
set -u
root=$1 python=$2 version=$3 triplet=$4 host=$5 env_file=$6
shims=${WHEELHOUSE_CROSS_BIN:-/opt/wheelhouse-cross/bin}
mkdir -p "$(dirname "$env_file")"

broken() {
    echo "wheelhouse: cross setup: $*" >&2
    # The env file is sourced by sh: the reason goes in single quotes, without any of its own.
    printf "WHEELHOUSE_CROSS_BROKEN='%s'\n" "$(echo "$*" | tr -d "'")" >"$env_file"
    exit 0
}

have=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) ||
    broken "the build image has no $python"
[ "$have" = "$version" ] ||
    broken "the build image has Python $have, the target $version: give the target a cross_image of the same Python"
stdlib=$("$python" -c 'import sysconfig; print(sysconfig.get_path("stdlib"))')

# The target's musl toolchain, run by the build machine's cross gcc: the target's specs with
# every /usr path moved into TARGET_ROOT (the same mount in the package stages), behind
# TRIPLET-gcc wrappers; binutils are the cross gcc's own. Sets musl_env for the env file.
musl_env=
musl_toolchain() {
    gnu=$(echo "$triplet" | sed 's/-musl/-gnu/')
    specs=$root/usr/lib/$triplet/musl-gcc.specs
    [ -f "$specs" ] || broken "the target image has no $specs: a musl target cross-compiles with its own musl-gcc"
    command -v "$gnu-gcc" >/dev/null || broken "the cross image has no $gnu-gcc (the toolchain stage installs it)"
    mkdir -p /opt/wheelhouse-cross
    sed -e "s@\([ :L]\)/usr/@\1$root/usr/@g" "$specs" >/opt/wheelhouse-cross/musl-gcc.specs ||
        broken "cannot write the cross musl-gcc specs"
    # musl's own install has empty libm.a, libcrypt.a ... (its libc holds them all), which
    # Alpine's musl-dev ships and build scripts link (`-lcrypt`: uWSGI); a target that lacks
    # some (Debian's musl leaves out libcrypt.a) gets empty ones, searched after its own.
    mkdir -p /opt/wheelhouse-cross/lib
    for lib in m rt pthread crypt util xnet resolv dl; do
        [ -f "$root/usr/lib/$triplet/lib$lib.a" ] || [ -f "$root/usr/local/lib/lib$lib.a" ] ||
            "$gnu-ar" rc "/opt/wheelhouse-cross/lib/lib$lib.a" || broken "cannot write lib$lib.a"
    done
    sed -i '/^\*link_libgcc:/{n;s@$@ -L/opt/wheelhouse-cross/lib@}' /opt/wheelhouse-cross/musl-gcc.specs ||
        broken "cannot write the cross musl-gcc specs"
    # cpp too: uWSGI's uwsgiconfig.py asks `$CPP -v` for the include path it probes headers in.
    for tool in gcc cpp; do
        if ! printf '#!/bin/sh\nexec %s "$@" -specs /opt/wheelhouse-cross/musl-gcc.specs\n' "$gnu-$tool" \
            >"/usr/local/bin/$triplet-$tool" || ! chmod 755 "/usr/local/bin/$triplet-$tool"; then
            broken "cannot write /usr/local/bin/$triplet-$tool"
        fi
    done
    for tool in ar ranlib strip nm readelf objdump; do
        ln -sf "$(command -v "$gnu-$tool")" "/usr/local/bin/$triplet-$tool"
    done
    printf 'int wheelhouse_probe(void) { return 42; }\n' >/tmp/probe.c
    "$triplet-gcc" -shared -fPIC -o /tmp/probe.so /tmp/probe.c 2>/tmp/probe.log ||
        broken "the cross musl-gcc cannot link a shared object: $(tail -n 3 /tmp/probe.log | tr '\n' ' ')"
    # Where the target's musl loader looks for libraries (/etc/ld-musl-ARCH.path, else its
    # defaults), inside TARGET_ROOT: auditwheel finds the libraries to graft there.
    paths=$(cat "$root"/etc/ld-musl-*.path 2>/dev/null | tr ':\n' '  ')
    [ -n "$(echo "$paths" | tr -d ' ')" ] || paths="/lib /usr/local/lib /usr/lib"
    lib_path=
    for dir in $paths; do lib_path=$lib_path${lib_path:+:}$root$dir; done
    musl_env="AUDITWHEEL_LD_LIBRARY_PATH=$lib_path
PKG_CONFIG_SYSROOT_DIR=$root
PKG_CONFIG_LIBDIR=$root/usr/local/lib/pkgconfig:$root/usr/lib/$triplet/pkgconfig"
}
case $triplet in *-musl*) musl_toolchain ;; esac

data=
for dir in "$root/usr/local/lib/python$version" "$root/usr/lib/python$version"; do
    for candidate in "$dir"/_sysconfigdata_*_linux_"$triplet".py "$dir"/_sysconfigdata_*"$triplet".py; do
        if [ -f "$candidate" ]; then data=$candidate; break 2; fi
    done
done
[ -n "$data" ] || broken "no _sysconfigdata_*$triplet.py for Python $version in the target image"
name=$(basename "$data" .py)
[ -f "$stdlib/$name.py" ] || cp "$data" "$stdlib/$name.py" || broken "cannot copy $name.py into $stdlib"

include=$(_PYTHON_SYSCONFIGDATA_NAME=$name "$python" -c 'import sysconfig; print(sysconfig.get_config_var("INCLUDEPY"))') ||
    broken "the target's $name.py does not load"
if [ -f "$root$include/Python.h" ]; then
    # shellcheck disable=SC2015  # any step failing is the same failure
    rm -rf "$include" && mkdir -p "$include" && cp -a "$root$include/." "$include/" ||
        broken "cannot copy the target's headers into $include"
    if [ -d "$root/usr/include/$triplet/python$version" ]; then
        mkdir -p "/usr/include/$triplet" &&
            cp -a "$root/usr/include/$triplet/python$version" "/usr/include/$triplet/"
    fi
elif [ ! -f "$include/Python.h" ]; then
    broken "no Python.h for the target: neither in the target image nor from libpython$version-dev (add python3-dev to system_packages)"
fi
# The target's LIBPL (config-X.Y-TRIPLET: its Makefile and, for a Python built without
# --enable-shared, its static libpython) where the target's sysconfig says, for builds that
# embed Python (uWSGI links that libpythonX.Y.a); libpythonX.Y-dev:<arch> brings Debian's.
libpl=$(_PYTHON_SYSCONFIGDATA_NAME=$name "$python" -c 'import sysconfig; print(sysconfig.get_config_var("LIBPL") or "")')
if [ -n "$libpl" ] && [ -d "$root$libpl" ] && [ ! -d "$libpl" ]; then
    mkdir -p "$libpl" && cp -a "$root$libpl/." "$libpl/" || broken "cannot copy the target's $libpl"
fi
{
    echo "_PYTHON_SYSCONFIGDATA_NAME=$name"
    echo "_PYTHON_HOST_PLATFORM=$host"
    echo "CC=$triplet-gcc"
    echo "CXX=$triplet-g++"
    echo "CPP=$triplet-cpp"
    echo "AR=$triplet-ar"
    if [ -n "$musl_env" ]; then
        echo "$musl_env"
    else
        echo "PKG_CONFIG_LIBDIR=/usr/lib/$triplet/pkgconfig:/usr/share/pkgconfig"
    fi
    echo "PKG_CONFIG_PATH="
    echo "WHEELHOUSE_TARGET_MACHINE=${host#linux-}"
    # Config tools answering for the target (cross-config.sh), before the build machine's.
    echo "PATH=$shims:\$PATH"
} >"$env_file"
# With the env file's pkg-config search path: the target's .pc files.
build=$("$python" -c 'import sysconfig; print(sysconfig.get_config_var("MULTIARCH") or "")')
(
    set -a
    # shellcheck source=/dev/null  # just written
    . "$env_file"
    sh "$(dirname "$0")/cross-config.sh" install "$shims" "${build:-none}" "$triplet"
) || broken "cannot write the config tools for the target in $shims"
echo "wheelhouse: cross setup: $name, headers in $include"
cat "$env_file"
