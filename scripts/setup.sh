#!/usr/bin/env bash
# Prepare this machine for wheelhouse's integration tests: engine + buildx + QEMU, then the local Debian
# Python base images for amd64 and arm64, and with --musl (or WHEELHOUSE_MUSL_IMAGES=1) the musl CPython
# images too.
#
# Usage: scripts/setup.sh [--musl] [--force]
#   --force is passed on to the image builders (rebuild even if the images exist).
# Idempotent: on a prepared machine it only checks, in a few seconds.
set -euo pipefail

WH_LOG_TAG=setup
SCRIPTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib/common.sh
source "$SCRIPTS_DIR/lib/common.sh"

main() {
    local musl=${WHEELHOUSE_MUSL_IMAGES:-0} build_args=() arg start
    for arg in "$@"; do
        case $arg in
            --musl) musl=1 ;;
            -f | --force) build_args+=(--force) ;;
            -h | --help)
                sed -n '2,/^$/s/^# \{0,1\}//p' "$0"
                exit 0
                ;;
            *) die "unknown argument: $arg (expected --musl, --force)" ;;
        esac
    done
    start=$(now_us)
    timed "engine, buildx, QEMU" "$SCRIPTS_DIR/bootstrap-engine.sh"
    timed "Debian Python test images" "$SCRIPTS_DIR/build-test-images.sh" amd64 arm64 "${build_args[@]}"
    if [[ $musl == 1 ]]; then
        timed "musl Python test images" "$SCRIPTS_DIR/build-musl-images.sh" amd64 arm64 "${build_args[@]}"
    else
        log "musl images skipped (pass --musl or set WHEELHOUSE_MUSL_IMAGES=1 to build them)"
    fi
    log "setup complete in $(elapsed_since "$start")"
}

main "$@"
