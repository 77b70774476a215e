#!/usr/bin/env bash
# Build local musl-libc CPython 3.13 images, the stand-ins for python:3.x-alpine (no registry here):
#   wheelhouse-test/musl-python:3.13-amd64  CPython compiled natively with musl-gcc
#   wheelhouse-test/musl-python:3.13-arm64  CPython cross-compiled on amd64, the image assembled under QEMU
#
# Usage: scripts/build-musl-images.sh [amd64|arm64]... [--force] [--verify]
#   no architecture = both; an existing image is reused unless --force (which also bypasses the build
#   cache); --verify re-runs the offline smoke test on reused images (it always runs after a build).
#
# Debian bases: wheelhouse-test/python:3.11-bookworm-{amd64,arm64} (scripts/build-test-images.sh). Sources:
# zlib and libffi from bookworm, CPython 3.13 from trixie (no reachable Debian suite has 3.12), fetched as
# Debian source packages on the host (kept in /var/cache/wheelhouse-test/musl-sources). musl 1.2.5 comes
# from trixie's binary packages. The images hold pip (ensurepip) and musl-gcc, and no apk: they are Debian
# systems with a musl Python, so C extensions may use libc, zlib and libffi only (no C++, no ssl module).
# The arm64 build needs an amd64 host (the cross compiler runs in the amd64 image).
set -euo pipefail

WH_LOG_TAG=musl-images
SCRIPTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$SCRIPTS_DIR/lib/common.sh"

MUSL_DIR=$SCRIPTS_DIR/musl
PYTHON_VERSION=3.13
IMAGE_REPO=wheelhouse-test/musl-python
BASE_REPO=wheelhouse-test/python
BASE_TAG_PREFIX=3.11-bookworm
WORK_ROOT=/var/cache/wheelhouse-test
DOWNLOADS=$WORK_ROOT/musl-sources
WORK=$WORK_ROOT/musl-work
LOG_DIR=$WORK_ROOT/logs
# Debian source package/release -> directory in the build context (the Dockerfile and cross-build.sh use
# these fixed names, so a Debian update of a version needs no edit).
SOURCE_PACKAGES=(zlib/bookworm libffi/bookworm "python$PYTHON_VERSION/trixie")
SOURCE_DIRS=(zlib libffi python)

image_name() { echo "$IMAGE_REPO:$PYTHON_VERSION-$1"; }
base_image() { echo "$BASE_REPO:$BASE_TAG_PREFIX-$1"; }

# The newest upstream tarball of a source package in the download cache (empty if there is none).
orig_tarball() { find "$DOWNLOADS" -maxdepth 1 -name "${1}_*.orig.tar.*" ! -name '*.asc' | sort -V | tail -n 1; }

have_all_sources() {
    local pkg
    for pkg in "${SOURCE_PACKAGES[@]}"; do [[ -n $(orig_tarball "${pkg%/*}") ]] || return 1; done
}

# apt-get source through a private apt configuration: this machine's apt has no deb-src entries and no
# business knowing about trixie sources, and the host's package cache must not be rewritten.
fetch_sources() {
    local apt_dir=$DOWNLOADS/apt mirror opts
    mkdir -p "$DOWNLOADS"
    if have_all_sources; then
        log "sources already downloaded in $DOWNLOADS"
        return 0
    fi
    mirror=$(debian_mirror)
    mkdir -p "$apt_dir/lists/partial" "$apt_dir/parts"
    printf 'deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s %s main\n' \
        "$mirror" bookworm "$mirror" trixie >"$apt_dir/sources.list"
    opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=$apt_dir/parts"
        -o "Dir::State::Lists=$apt_dir/lists" -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache=)
    run_logged "$LOG_DIR/musl-apt-update.log" apt-get "${opts[@]}" update
    # apt-get source downloads into the current directory.
    pushd "$DOWNLOADS" >/dev/null
    run_logged "$LOG_DIR/musl-apt-source.log" apt-get "${opts[@]}" source --download-only "${SOURCE_PACKAGES[@]}"
    popd >/dev/null
    have_all_sources || die "apt-get source did not leave all of ${SOURCE_PACKAGES[*]} in $DOWNLOADS"
    rm -rf "$apt_dir"  # ~40 MB of Sources indexes, only needed for this download
}

# Upstream (orig) sources only, without Debian's patches: those are made for a glibc multiarch build.
unpack_sources() {
    local i tarball dir
    remove_tree "$WORK"
    at_exit remove_tree "$WORK"
    for i in "${!SOURCE_PACKAGES[@]}"; do
        tarball=$(orig_tarball "${SOURCE_PACKAGES[i]%/*}")
        dir=$WORK/src/${SOURCE_DIRS[i]}
        mkdir -p "$dir"
        tar -xf "$tarball" -C "$dir" --strip-components=1
        log "  $(basename "$tarball") -> src/${SOURCE_DIRS[i]}"
    done
}

# buildx_build ARCH TARGET: one build of scripts/musl/Dockerfile with the unpacked sources as context.
buildx_build() {
    local arch=$1 target=$2 args=()
    # --force means a real rebuild, not layers replayed from BuildKit's cache.
    if ((FORCE)); then args+=(--no-cache); fi
    run_logged "$LOG_DIR/musl-build-$arch.log" \
        docker buildx build --progress=plain --platform "linux/$arch" --target "$target" "${args[@]}" \
        --build-arg "BASE=$(base_image "$arch")" --build-arg "MIRROR=$(debian_mirror)" \
        -f "$MUSL_DIR/Dockerfile" -t "$(image_name "$arch")" --load "$WORK"
}

build_amd64() {
    timed "native build (log: $LOG_DIR/musl-build-amd64.log)" buildx_build amd64 native
}

build_arm64() {
    local builder
    builder=$(image_name amd64)
    image_exists "$builder" || die "$builder is needed to cross-compile for arm64"
    # A plain container rather than a build stage: its output is a tarball handed to the arm64 build.
    timed "cross-compiling zlib, libffi, CPython for aarch64 in $builder (log: $LOG_DIR/musl-cross-arm64.log)" \
        run_logged "$LOG_DIR/musl-cross-arm64.log" \
        docker run --rm --platform linux/amd64 -e "MIRROR=$(debian_mirror)" \
        -v "$WORK/src/zlib:/src/zlib:ro" -v "$WORK/src/libffi:/src/libffi:ro" \
        -v "$WORK/src/python:/src/python:ro" -v "$WORK:/out" \
        -v "$MUSL_DIR/cross-build.sh:/cross-build.sh:ro" "$builder" /cross-build.sh
    timed "assembling the arm64 image under QEMU (log: $LOG_DIR/musl-build-arm64.log)" buildx_build arm64 cross
}

build_image() {
    local arch=$1 old_id
    old_id=$(image_id "$(image_name "$arch")")
    require_binfmt "$arch"
    image_exists "$(base_image "$arch")" ||
        die "$(base_image "$arch") is missing: run scripts/build-test-images.sh $arch first"
    "build_$arch"
    drop_replaced_image "$old_id" "$(image_name "$arch")"
}

verify_image() {
    local arch=$1
    run_logged "$LOG_DIR/musl-check-$arch.log" \
        docker run --rm --platform "linux/$arch" -v "$MUSL_DIR/check-image.sh:/check-image.sh:ro" \
        "$(image_name "$arch")" sh /check-image.sh "$(uname_arch "$arch")"
    log "$(image_name "$arch"): $(tail -n 1 "$LOG_DIR/musl-check-$arch.log")"
}

wants() { [[ " ${ARCHES[*]} " == *" $1 "* ]]; }

main() {
    local arch start order=() todo=()
    parse_build_args "$@"
    [[ $(host_arch) == amd64 ]] || die "the musl images are built on an amd64 host (arm64 is cross-compiled)"
    require_engine
    start=$(now_us)
    # amd64 first, whatever the order given: arm64 is cross-compiled inside the amd64 image, so asking for
    # arm64 alone still builds a missing amd64 image.
    if wants amd64 || { wants arm64 && ! image_exists "$(image_name amd64)"; }; then order+=(amd64); fi
    if wants arm64; then order+=(arm64); fi
    for arch in "${order[@]}"; do
        if skip_existing "$(image_name "$arch")" "$arch"; then
            if ((VERIFY)); then timed "verifying $(image_name "$arch")" verify_image "$arch"; fi
        else
            todo+=("$arch")
        fi
    done
    if ((${#todo[@]})); then
        [[ $EUID -eq 0 ]] || die "fetching the sources into $WORK_ROOT needs root"
        timed "Debian source packages ${SOURCE_PACKAGES[*]}" fetch_sources
        # Fresh every run (a few seconds): a tree left by a killed run is never trusted.
        timed "unpacking sources into $WORK" unpack_sources
        for arch in "${todo[@]}"; do
            timed "building $(image_name "$arch")" build_image "$arch"
            timed "verifying $(image_name "$arch")" verify_image "$arch"
        done
        remove_tree "$WORK"
    fi
    log "images:"
    docker image ls "$IMAGE_REPO" --format '  {{.Repository}}:{{.Tag}}  {{.ID}}  {{.Size}}' >&2
    log "done in $(elapsed_since "$start")"
}

main "$@"
