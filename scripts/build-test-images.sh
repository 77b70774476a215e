#!/usr/bin/env bash
# Build the local Debian bookworm + Python 3.11 images that the tests build wheels in, without any registry:
#   wheelhouse-test/python:3.11-bookworm-amd64
#   wheelhouse-test/python:3.11-bookworm-arm64
#   wheelhouse-test/python:3.11-bookworm-armhf  (32-bit Raspberry Pi OS's architecture, linux/arm/v7)
#
# Usage: scripts/build-test-images.sh [amd64|arm64|armhf]... [--force] [--verify]
#   no architecture = amd64 and arm64; an image that already exists is reused unless --force is given;
#   --verify re-runs the checks on reused images too (they always run after a build).
#   Two images to build are built side by side, each with its own log ($WORK_ROOT/logs/test-image-*.log).
#   WHEELHOUSE_TEST_IMAGE_PREFIX (default wheelhouse-test) and WHEELHOUSE_TEST_WORK (default
#   /var/cache/wheelhouse-test) move the images and the work/log directory elsewhere (see lib/common.sh).
#
# Each image is a debootstrap'ed minbase rootfs (python3, pip, venv) imported with `docker buildx build
# --platform` from a `FROM scratch` + `ADD rootfs.tar` context, so that the image's metadata carries the right
# architecture (`docker import` would label an arm64 tree amd64, and BuildKit would then go to a registry).
# apt in the image uses this machine's Debian mirror over plain HTTP, so a later Dockerfile stage can
# `apt-get update && apt-get install gcc python3-dev libffi-dev`. Needs root, debootstrap, and for the
# foreign architecture QEMU binfmt (scripts/bootstrap-engine.sh sets all of that up).
set -euo pipefail

WH_LOG_TAG=test-images
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

SUITE=bookworm
PYTHON_VERSION=3.11  # bookworm's python3; the tag says it, so it is checked below
IMAGE_REPO=$WH_IMAGE_PREFIX/python
WORK_ROOT=$WH_WORK_ROOT
LOG_DIR=$WORK_ROOT/logs

image_name() { echo "$IMAGE_REPO:$PYTHON_VERSION-$SUITE-$1"; }

# Turn the debootstrap tree into what a base image should be.
prepare_rootfs() {
    local rootfs=$1 mirror=$2
    # One suite only, the one debootstrap used: installed versions then always match the index, so
    # `apt-get install python3-dev` finds a libpython3.11-dev of exactly the installed python3.11.
    printf 'deb %s %s main\n' "$mirror" "$SUITE" >"$rootfs/etc/apt/sources.list"
    # No Translation-* downloads: a faster `apt-get update` in every build stage.
    printf 'Acquire::Languages "none";\n' >"$rootfs/etc/apt/apt.conf.d/90wheelhouse-no-languages"
    # As in Docker's own Debian images: package scripts must not try to start services in a build.
    printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
    chmod 755 "$rootfs/usr/sbin/policy-rc.d"
    # Small image: no package lists or downloaded .debs. The engine provides resolv.conf and hostname at run
    # time; the host's copies that debootstrap left behind do not belong in an image.
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb
    : >"$rootfs/etc/resolv.conf"
    : >"$rootfs/etc/hostname"
}

write_context() {
    local rootfs=$1 ctx=$2 arch=$3
    # /dev, /proc, /sys are provided by the container runtime; device nodes have no place in a layer.
    tar --numeric-owner -C "$rootfs" --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
        -cf "$ctx/rootfs.tar" .
    cat >"$ctx/Dockerfile" <<EOF
# No "# syntax=" line on purpose: it would make BuildKit pull a frontend image from a registry.
FROM scratch
ADD rootfs.tar /
LABEL org.wheelhouse.test-image="python-$SUITE" org.wheelhouse.arch="$arch"
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8
CMD ["python3"]
EOF
}

build_image() {
    local arch=$1 name work mirror old_id
    name=$(image_name "$arch")
    work=$WORK_ROOT/python-$SUITE-$arch
    mirror=$(debian_mirror)
    old_id=$(image_id "$name")
    remove_tree "$work"
    mkdir -p "$work/ctx" "$WORK_ROOT/debs-$SUITE-$arch"
    at_exit remove_tree "$work"

    # For the foreign architecture debootstrap's second stage runs under QEMU (binfmt F flag, so nothing has
    # to be copied into the tree). --cache-dir keeps the .debs so that a --force rebuild downloads nothing.
    timed "debootstrap $SUITE $arch (log: $LOG_DIR/debootstrap-$SUITE-$arch.log)" \
        run_logged "$LOG_DIR/debootstrap-$SUITE-$arch.log" \
        debootstrap --arch="$arch" --variant=minbase --include=python3,python3-pip,python3-venv \
        --cache-dir="$WORK_ROOT/debs-$SUITE-$arch" "$SUITE" "$work/rootfs" "$mirror"
    prepare_rootfs "$work/rootfs" "$mirror"
    timed "packing rootfs.tar ($(du -sh "$work/rootfs" | cut -f1))" write_context "$work/rootfs" "$work/ctx" "$arch"
    remove_tree "$work/rootfs"
    timed "importing as $name ($(docker_platform "$arch"))" \
        run_logged "$LOG_DIR/import-$SUITE-$arch.log" \
        docker buildx build --progress=plain --platform "$(docker_platform "$arch")" -t "$name" --load "$work/ctx"
    remove_tree "$work"
    drop_replaced_image "$old_id" "$name"
}

# The checks that matter to the tests: right architecture at run time, the Python the tag promises, apt
# reaching the mirror from inside, and a BuildKit build on top of the image with `RUN --network=none`
# resolving the base locally (no registry) for its platform.
verify_image() {
    local arch=$1 name out tmp expected
    name=$(image_name "$arch")
    expected="$(uname_arch "$arch") $PYTHON_VERSION"
    out=$(docker run --rm --init --platform "$(docker_platform "$arch")" "$name" \
        python3 -c 'import platform, sys; print(platform.machine(), "%d.%d" % sys.version_info[:2])')
    [[ $out == "$expected" ]] || die "$name: expected '$expected' from python3, got '$out'"
    log "$name: docker run -> python3 on $out"

    docker run --rm --init --platform "$(docker_platform "$arch")" "$name" \
        sh -c 'apt-get update -qq && apt-get install -s -qq gcc python3-dev libffi-dev >/dev/null' ||
        die "$name: apt-get cannot reach the mirror from inside the image"
    log "$name: apt-get update + install -s gcc python3-dev libffi-dev work inside"

    tmp=$(mktemp -d)
    at_exit rm -rf "$tmp"
    printf 'FROM %s\nRUN --network=none uname -m > /uname\nFROM scratch\nCOPY --from=0 /uname /\n' "$name" \
        >"$tmp/Dockerfile"
    run_logged "$LOG_DIR/verify-buildx-$SUITE-$arch.log" \
        docker buildx build --progress=plain --no-cache --platform "$(docker_platform "$arch")" \
        --output "type=local,dest=$tmp/out" "$tmp"
    out=$(<"$tmp/out/uname")
    [[ $out == "$(uname_arch "$arch")" ]] || die "$name: RUN --network=none uname -m gave '$out'"
    log "$name: buildx build FROM it with RUN --network=none -> $out"
}

# One architecture: build (unless reused) and check.
build_and_verify() {
    local arch=$1
    timed "building $(image_name "$arch")" build_image "$arch"
    timed "verifying $(image_name "$arch")" verify_image "$arch"
}

main() {
    local arch name start todo=() recheck=()
    parse_build_args "$@"
    [[ $EUID -eq 0 ]] || die "debootstrap needs root"
    require_engine
    ensure_packages debootstrap
    start=$(now_us)
    for arch in "${ARCHES[@]}"; do
        require_binfmt "$arch"
        name=$(image_name "$arch")
        if skip_existing "$name" "$arch"; then
            if ((VERIFY)); then recheck+=("$arch"); fi
        else
            todo+=("$arch")
        fi
    done
    for arch in "${recheck[@]}"; do timed "verifying $(image_name "$arch")" verify_image "$arch"; done
    if ((${#todo[@]} == 1)); then
        build_and_verify "${todo[0]}"
    elif ((${#todo[@]} > 1)); then
        # Side by side: a foreign debootstrap's second stage runs under QEMU, mostly on one core, for
        # minutes; the native one is over by then.
        for arch in "${todo[@]}"; do
            job_add "$arch" "$LOG_DIR/test-image-$SUITE-$arch.log" "" build_and_verify "$arch"
        done
        jobs_run
    fi
    log "images:"
    docker image ls "$IMAGE_REPO" --format '  {{.Repository}}:{{.Tag}}  {{.ID}}  {{.Size}}' >&2
    log "done in $(elapsed_since "$start")"
}

main "$@"
