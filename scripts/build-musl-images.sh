#!/usr/bin/env bash
# Build local musl-libc CPython 3.13 images, the stand-ins for python:3.x-alpine (no registry here):
#   wheelhouse-test/musl-python:3.13-amd64  CPython compiled natively with musl-gcc
#   wheelhouse-test/musl-python:3.13-arm64  CPython cross-compiled on amd64, the image assembled under QEMU
#
# Usage: scripts/build-musl-images.sh [amd64|arm64]... [--with-base] [--force] [--verify]
#   no architecture = both; an existing image is reused unless --force (which also bypasses the build
#   cache); --verify re-runs the offline smoke test on reused images (it always runs after a build);
#   --with-base also builds (or reuses, or with --verify checks) the Debian base images, through
#   scripts/build-test-images.sh, as steps of the same run (scripts/setup.sh uses it); without it a missing
#   base image is an error.
#   WHEELHOUSE_TEST_IMAGE_PREFIX / WHEELHOUSE_TEST_WORK move images and work/logs (see lib/common.sh).
#
# The steps run side by side as soon as what they need is there, each with its own log in $WORK_ROOT/logs
# (job-*.log, plus the build logs named in them); the first failure stops them all:
#   debian-amd64 --> musl-amd64 (CPython compiled) --> musl-cross-arm64 (cross-compile) --> musl-arm64
#   debian-arm64 --> musl-base-arm64 (the base stage, apt under QEMU) -------------------------^
#   sources (apt-get source, unpack) --> musl-amd64, musl-cross-arm64
# On 2 cores the QEMU-bound arm64 debootstrap and base stage (mostly one core each) overlap the compiles.
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
IMAGE_REPO=$WH_IMAGE_PREFIX/musl-python
BASE_REPO=$WH_IMAGE_PREFIX/python
BASE_TAG_PREFIX=3.11-bookworm
WORK_ROOT=$WH_WORK_ROOT
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
    # apt-get source downloads into the current directory: a directory of its own, moved into place once
    # complete, so that a download cut short (a run stopped because another step failed) is never taken for
    # a source tarball.
    rm -rf "$DOWNLOADS/incoming"
    mkdir -p "$DOWNLOADS/incoming"
    pushd "$DOWNLOADS/incoming" >/dev/null
    run_logged "$LOG_DIR/musl-apt-source.log" apt-get "${opts[@]}" source --download-only "${SOURCE_PACKAGES[@]}"
    popd >/dev/null
    mv -f "$DOWNLOADS"/incoming/* "$DOWNLOADS"/
    rmdir "$DOWNLOADS/incoming"
    have_all_sources || die "apt-get source did not leave all of ${SOURCE_PACKAGES[*]} in $DOWNLOADS"
    rm -rf "$apt_dir"  # ~40 MB of Sources indexes, only needed for this download
}

# Upstream (orig) sources only, without Debian's patches: those are made for a glibc multiarch build.
# Into $WORK/src, which main() has just made afresh (a tree left by a killed run is never trusted).
unpack_sources() {
    local i tarball dir
    for i in "${!SOURCE_PACKAGES[@]}"; do
        tarball=$(orig_tarball "${SOURCE_PACKAGES[i]%/*}")
        dir=$WORK/src/${SOURCE_DIRS[i]}
        mkdir -p "$dir"
        tar -xf "$tarball" -C "$dir" --strip-components=1
        log "  $(basename "$tarball") -> src/${SOURCE_DIRS[i]}"
    done
}

prepare_sources() {
    timed "Debian source packages ${SOURCE_PACKAGES[*]}" fetch_sources
    timed "unpacking sources into $WORK/src" unpack_sources
}

# buildx_build ARCH TARGET LOGFILE CONTEXT [BUILDX ARGS...]: one build of scripts/musl/Dockerfile.
buildx_build() {
    local arch=$1 target=$2 logfile=$3 context=$4
    shift 4
    run_logged "$logfile" \
        docker buildx build --progress=plain --platform "linux/$arch" --target "$target" "$@" \
        --build-arg "BASE=$(base_image "$arch")" --build-arg "MIRROR=$(debian_mirror)" \
        -f "$MUSL_DIR/Dockerfile" "$context"
}

# The amd64 image: zlib, libffi and CPython compiled in a BuildKit stage.
build_native() {
    local name old_id args=()
    name=$(image_name amd64)
    old_id=$(image_id "$name")
    # --force means a real rebuild, not layers replayed from BuildKit's cache.
    if ((FORCE)); then args+=(--no-cache); fi
    timed "native build (log: $LOG_DIR/musl-build-amd64.log)" \
        buildx_build amd64 native "$LOG_DIR/musl-build-amd64.log" "$WORK" "${args[@]}" -t "$name" --load
    drop_replaced_image "$old_id" "$name"
    timed "verifying $name" verify_image amd64
}

# The `base` stage of an image (apt purge/install, musl from trixie), built ahead into BuildKit's cache. For
# arm64 it runs under QEMU for minutes, mostly on one core: side by side with the compiles, the assembly of
# the arm64 image later finds it done. It uses nothing of the build context, hence an empty one. The
# cacheonly output matters: with the docker driver a build without an output loads an untagged image.
prebuild_base() {
    local arch=$1 args=(--output type=cacheonly)
    if ((FORCE)); then args+=(--no-cache); fi
    timed "base stage for $arch, into BuildKit's cache (log: $LOG_DIR/musl-base-$arch.log)" \
        buildx_build "$arch" base "$LOG_DIR/musl-base-$arch.log" "$WORK/empty-context" "${args[@]}"
}

# zlib, libffi and CPython cross-compiled for aarch64 in a container of the amd64 image (its python3.13 is
# the build Python), into $WORK/cross-usr-local.tgz.
cross_compile_arm64() {
    local builder container
    builder=$(image_name amd64)
    image_exists "$builder" || die "$builder is needed to cross-compile for arm64"
    # Named and --init: a stopped run (the docker CLI proxies SIGTERM to tini, which passes it on) leaves no
    # compile running, and the EXIT trap removes the container should the CLI itself have been killed.
    container=${WH_IMAGE_PREFIX//\//-}-musl-cross-$BASHPID
    at_exit remove_container "$container"
    # A plain container rather than a build stage: its output is a tarball handed to the arm64 build.
    timed "cross-compiling zlib, libffi, CPython for aarch64 in $builder (log: $LOG_DIR/musl-cross-arm64.log)" \
        run_logged "$LOG_DIR/musl-cross-arm64.log" \
        docker run --rm --init --name "$container" --platform linux/amd64 -e "MIRROR=$(debian_mirror)" \
        -v "$WORK/src/zlib:/src/zlib:ro" -v "$WORK/src/libffi:/src/libffi:ro" \
        -v "$WORK/src/python:/src/python:ro" -v "$WORK:/out" \
        -v "$MUSL_DIR/cross-build.sh:/cross-build.sh:ro" "$builder" /cross-build.sh
}

# The arm64 image: the cross-compiled /usr/local on the (prebuilt) base stage, assembled under QEMU.
assemble_arm64() {
    local name old_id args=()
    name=$(image_name arm64)
    old_id=$(image_id "$name")
    # Under --force the base stage has just been rebuilt without cache by prebuild_base: everything after it
    # is rebuilt too, the base itself is taken from that fresh build.
    if ((FORCE)); then args+=(--no-cache-filter assembled-cross --no-cache-filter cross); fi
    timed "assembling the arm64 image under QEMU (log: $LOG_DIR/musl-build-arm64.log)" \
        buildx_build arm64 cross "$LOG_DIR/musl-build-arm64.log" "$WORK" "${args[@]}" -t "$name" --load
    drop_replaced_image "$old_id" "$name"
    timed "verifying $name" verify_image arm64
}

verify_image() {
    local arch=$1
    run_logged "$LOG_DIR/musl-check-$arch.log" \
        docker run --rm --init --platform "linux/$arch" -v "$MUSL_DIR/check-image.sh:/check-image.sh:ro" \
        "$(image_name "$arch")" sh /check-image.sh "$(uname_arch "$arch")"
    log "$(image_name "$arch"): $(tail -n 1 "$LOG_DIR/musl-check-$arch.log")"
}

wants() { [[ " ${ARCHES[*]} " == *" $1 "* ]]; }

main() {
    local arch start order=() todo=() base_arches=() passed=() flags=() arg with_base=0 deps
    for arg in "$@"; do
        if [[ $arg == --with-base ]]; then with_base=1; else passed+=("$arg"); fi
    done
    parse_build_args "${passed[@]}"
    if ((FORCE)); then flags+=(--force); fi
    if ((VERIFY)); then flags+=(--verify); fi
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
    # The Debian images the musl ones start from: with --with-base this run builds (or reuses, or --verify's)
    # them too, as steps of the same graph.
    if ((with_base)); then base_arches=("${ARCHES[@]}"); fi
    for arch in "${todo[@]}"; do
        [[ " ${base_arches[*]} " == *" $arch "* ]] || base_arches+=("$arch")
    done
    if ((${#todo[@]} == 0)); then
        if ((with_base)); then
            timed "Debian base images" "$SCRIPTS_DIR/build-test-images.sh" "${base_arches[@]}" "${flags[@]}"
        fi
    else
        [[ $EUID -eq 0 ]] || die "fetching the sources into $WORK_ROOT needs root"
        for arch in "${todo[@]}"; do require_binfmt "$arch"; done
        remove_tree "$WORK"
        mkdir -p "$WORK/src" "$WORK/empty-context"
        at_exit remove_tree "$WORK"
        # Steps run as soon as what they need is there (lib/common.sh's job_add/jobs_run): the arm64
        # debootstrap and the arm64 base stage (QEMU, mostly one core, minutes) run beside the amd64
        # CPython compile and the cross-compile.
        if ((with_base)); then
            ensure_packages debootstrap # here, not in two jobs at once (apt's lock)
            for arch in "${base_arches[@]}"; do
                job_add "debian-$arch" "$LOG_DIR/job-debian-$arch.log" "" \
                    "$SCRIPTS_DIR/build-test-images.sh" "$arch" "${flags[@]}"
            done
        else
            for arch in "${base_arches[@]}"; do
                image_exists "$(base_image "$arch")" || die "$(base_image "$arch") is missing:" \
                    "run scripts/build-test-images.sh $arch first (or pass --with-base)"
            done
        fi
        job_add sources "$LOG_DIR/job-musl-sources.log" "" prepare_sources
        if [[ " ${todo[*]} " == *" amd64 "* ]]; then
            deps="sources"
            if ((with_base)); then deps+=" debian-amd64"; fi
            job_add musl-amd64 "$LOG_DIR/job-musl-amd64.log" "$deps" build_native
        fi
        if [[ " ${todo[*]} " == *" arm64 "* ]]; then
            deps=""
            if ((with_base)); then deps="debian-arm64"; fi
            job_add musl-base-arm64 "$LOG_DIR/job-musl-base-arm64.log" "$deps" prebuild_base arm64
            deps="sources"
            if [[ " ${todo[*]} " == *" amd64 "* ]]; then deps+=" musl-amd64"; fi
            job_add musl-cross-arm64 "$LOG_DIR/job-musl-cross-arm64.log" "$deps" cross_compile_arm64
            job_add musl-arm64 "$LOG_DIR/job-musl-arm64.log" "musl-cross-arm64 musl-base-arm64" assemble_arm64
        fi
        jobs_run
        remove_tree "$WORK"
    fi
    log "images:"
    docker image ls "$IMAGE_REPO" --format '  {{.Repository}}:{{.Tag}}  {{.ID}}  {{.Size}}' >&2
    log "done in $(elapsed_since "$start")"
}

main "$@"
