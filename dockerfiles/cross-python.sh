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
# Writes ENV_FILE for cross-build-wheel.sh; never fails the stage: a problem is written to
# ENV_FILE as WHEELHOUSE_CROSS_BROKEN, and every package stage reports it.
set -u
root=$1 python=$2 version=$3 triplet=$4 host=$5 env_file=$6
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
{
    echo "_PYTHON_SYSCONFIGDATA_NAME=$name"
    echo "_PYTHON_HOST_PLATFORM=$host"
    echo "CC=$triplet-gcc"
    echo "CXX=$triplet-g++"
    echo "AR=$triplet-ar"
    echo "PKG_CONFIG_LIBDIR=/usr/lib/$triplet/pkgconfig:/usr/share/pkgconfig"
    echo "PKG_CONFIG_PATH="
    echo "WHEELHOUSE_TARGET_MACHINE=${host#linux-}"
} >"$env_file"
echo "wheelhouse: cross setup: $name, headers in $include"
cat "$env_file"
