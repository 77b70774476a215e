#!/usr/bin/env bash
# Prepare this machine for wheelhouse's integration tests and `make example`: engine + buildx + QEMU, then
# the local Debian Python base images for amd64, arm64 and armhf (32-bit Raspberry Pi OS), then the musl
# CPython images (the stand-ins for python:3.x-alpine that tests/integration/test_musl.py and
# examples/pi-backend/wheelhouse.musl.yaml build in), then a registry on 127.0.0.1:5000 holding them as
# multi-platform tags (scripts/start-registry.sh).
#
# Usage: scripts/setup.sh [--no-musl] [--force]
#   --no-musl (or WHEELHOUSE_MUSL_IMAGES=0) skips the musl images.
#   --force is passed on to the image builders (rebuild even if the images exist).
# From scratch the four images are one graph of steps run side by side (build-musl-images.sh --with-base),
# logs in /var/cache/wheelhouse-test/logs: 6.5 to 8 min on the 2-core development machine (with other
# work), 12.5 min for the previous set-up that ran one step after the other. The Debian images alone take
# about 5 min (the arm64 debootstrap runs under QEMU). Idempotent: on a prepared machine it only checks, in
# seconds.
set -euo pipefail

WH_LOG_TAG=setup
SCRIPTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$SCRIPTS_DIR/lib/common.sh"

main() {
    local musl=${WHEELHOUSE_MUSL_IMAGES:-1} build_args=() arg start
    for arg in "$@"; do
        case $arg in
            --musl) musl=1 ;; # the default now; still accepted
            --no-musl) musl=0 ;;
            -f | --force) build_args+=(--force) ;;
            -h | --help)
                sed -n '2,/^$/s/^# \{0,1\}//p' "$0"
                exit 0
                ;;
            *) die "unknown argument: $arg (expected --no-musl, --force)" ;;
        esac
    done
    start=$(now_us)
    timed "engine, buildx, QEMU" "$SCRIPTS_DIR/bootstrap-engine.sh"
    if [[ $musl == 1 ]]; then
        # One graph of steps, run side by side where they can (see build-musl-images.sh --with-base).
        timed "Debian and musl Python test images" \
            "$SCRIPTS_DIR/build-musl-images.sh" --with-base amd64 arm64 armhf "${build_args[@]}"
    else
        timed "Debian Python test images" "$SCRIPTS_DIR/build-test-images.sh" amd64 arm64 armhf "${build_args[@]}"
        log "musl images skipped (--no-musl or WHEELHOUSE_MUSL_IMAGES=0): tests/integration/test_musl.py will fail"
    fi
    # After the images: it pushes them as multi-platform tags (first run about 3 min, then 2 s).
    timed "loopback registry, multi-platform tags" "$SCRIPTS_DIR/start-registry.sh"
    log "setup complete in $(elapsed_since "$start")"
}

main "$@"
