#!/bin/sh
# Cross-compile one wheel on the build machine (no QEMU), then hand over to build-wheel.sh.
#
# Usage: cross-build-wheel.sh NAME SDIST DEPS_DIR TIMEOUT_SECONDS PLATFORM_TAG TOOLS_VENV ENV_FILE PYTHON [RECIPE_DIR]
#
# DEPS_DIR holds the build requirements as wheels for the BUILD platform: they run here. They go
# into a venv of the build image's PYTHON, and pip builds without isolation in it (an isolated
# build env would be filled for the target platform, which _PYTHON_HOST_PLATFORM makes pip
# believe it runs on). ENV_FILE (cross-python.sh) names the target's sysconfig data and the
# cross compilers. Same contract as build-wheel.sh: always exits 0, the outcome is in
# /out/NAME/ (status 97: the cross toolchain is unusable, 98: the build venv failed).
set -u
name=$1 sdist=$2 deps=$3 limit=$4 plat=$5 venv=$6 env_file=$7 python=$8 recipe=${9:-}
out=${WHEELHOUSE_OUT:-/out}/$name
here=$(dirname "$0")
mkdir -p "$out"

give_up() {
    { cat "$2" 2>/dev/null; echo "wheelhouse: $3"; echo "wheelhouse: exit status $1"; } >"$out/build.log"
    echo 0 >"$out/seconds"
    echo "$1" >"$out/status"
    exit 0
}

[ -f "$env_file" ] || give_up 97 /dev/null "the cross setup left no $env_file"
set -a
# shellcheck source=/dev/null  # written by cross-python.sh in the xpython stage
. "$env_file"
set +a
[ -z "${WHEELHOUSE_CROSS_BROKEN:-}" ] || give_up 97 /dev/null "cross toolchain unusable: $WHEELHOUSE_CROSS_BROKEN"

# A fixed place (not mktemp): the build requirements' paths can reach the objects. Beside
# build-wheel.sh's WORK/NAME, which that script empties first.
work=${WHEELHOUSE_WORK:-/wheelhouse/work}/.xenv-$name
rm -rf "$work" && mkdir -p "$work" || give_up 98 /dev/null "cannot create $work"
set -- "$deps"/*.whl
[ -f "$1" ] || set --
# The build requirements run here: a venv of the build machine's Python, not the target's.
# shellcheck disable=SC2016  # the inner script expands its own arguments
env -u _PYTHON_HOST_PLATFORM -u _PYTHON_SYSCONFIGDATA_NAME sh -c '
    python=$1 env=$2 venv=$3; shift 3
    "$python" -m venv --without-pip "$env" || exit $?
    [ "$#" -eq 0 ] || "$venv/bin/pip" --python "$env/bin/python" install --no-index --no-deps \
        --no-compile --disable-pip-version-check --no-cache-dir "$@"' \
    sh "$python" "$work/env" "$venv" "$@" >"$work/setup.log" 2>&1 ||
    give_up 98 "$work/setup.log" "could not install the build requirements into a build venv"

# The stand-in config tools (cross-config.sh) note each answer: the log says what the build got.
WHEELHOUSE_CONFIG_LOG=$work/config-tools.log PIP_PYTHON=$work/env/bin/python PIP_NO_BUILD_ISOLATION=0 \
    sh "$here/build-wheel.sh" "$name" "$sdist" "$deps" "$limit" "$plat" "$venv" "$recipe"
if [ -s "$work/config-tools.log" ]; then
    sed 's/^/wheelhouse: cross config tool: /' "$work/config-tools.log" >>"$out/build.log"
fi
exit 0
