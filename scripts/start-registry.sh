#!/usr/bin/env bash
# Start a container registry on loopback and push the local test images to it as multi-platform tags, so
# that tests and the example name their base images as real users do: one tag for every architecture.
#
# Usage: scripts/start-registry.sh
#
# - The registry is Debian's docker-registry (the distribution registry 2.8), installed if missing, run in
#   the background on 127.0.0.1:5000 with its storage under the project's cache
#   ($WHEELHOUSE_TEST_WORK/registry, default /var/cache/wheelhouse-test/registry; log:
#   /var/log/wheelhouse-registry.log). Loopback only, no auth: docker and buildx talk plain HTTP to
#   127.0.0.1 without any insecure-registries setting.
# - Each local per-architecture image (wheelhouse-test/python:3.11-bookworm-ARCH,
#   wheelhouse-test/musl-python:3.13-ARCH) is pushed as is, then one multi-platform tag without the ARCH
#   suffix is made from them with `docker buildx imagetools create`:
#   127.0.0.1:5000/wheelhouse-test/python:3.11-bookworm, 127.0.0.1:5000/wheelhouse-test/musl-python:3.13.
# Idempotent: a running registry is kept, and a push of layers it holds only checks them.
set -euo pipefail

WH_LOG_TAG=registry
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

REGISTRY=${WHEELHOUSE_TEST_REGISTRY:-127.0.0.1:5000}
REGISTRY_DIR=$WH_WORK_ROOT/registry
REGISTRY_LOG=/var/log/wheelhouse-registry.log
REGISTRY_WAIT_SECONDS=30
# Local repository:tag-prefix pairs; the architectures found locally make up each multi-platform tag.
IMAGES=("$WH_IMAGE_PREFIX/python:3.11-bookworm" "$WH_IMAGE_PREFIX/musl-python:3.13")
ARCHES=(amd64 arm64 armhf)

registry_answers() { curl -fsS --max-time 2 "http://$REGISTRY/v2/" >/dev/null 2>&1; }

ensure_registry() {
    if registry_answers; then
        log "a registry answers on $REGISTRY: keeping it"
        return 0
    fi
    if ! command -v docker-registry >/dev/null; then
        [[ $EUID -eq 0 ]] || die "no registry on $REGISTRY and not root: install docker-registry by hand"
        apt_install docker-registry
    fi
    mkdir -p "$REGISTRY_DIR"
    # Our own config: Debian's listens on every interface and asks for htpasswd auth.
    cat >"$REGISTRY_DIR/config.yml" <<YAML
# Written by wheelhouse scripts/start-registry.sh
version: 0.1
storage:
  filesystem:
    rootdirectory: $REGISTRY_DIR/data
  delete:
    enabled: true
http:
  addr: $REGISTRY
YAML
    log "starting docker-registry on $REGISTRY (storage: $REGISTRY_DIR/data, log: $REGISTRY_LOG)"
    setsid nohup docker-registry serve "$REGISTRY_DIR/config.yml" >>"$REGISTRY_LOG" 2>&1 </dev/null &
    local pid=$! i
    for ((i = 0; i < REGISTRY_WAIT_SECONDS * 5; i++)); do
        registry_answers && return 0
        kill -0 "$pid" 2>/dev/null || {
            tail -n 20 "$REGISTRY_LOG" >&2 || true
            die "docker-registry exited during start-up; see $REGISTRY_LOG"
        }
        sleep 0.2
    done
    die "the registry did not answer on http://$REGISTRY/v2/ within ${REGISTRY_WAIT_SECONDS}s; see $REGISTRY_LOG"
}

# push_multiplatform REPO:TAG: push REPO:TAG-ARCH for each local ARCH, then REPO:TAG over all of them.
push_multiplatform() {
    local image=$1 arch sources=()
    for arch in "${ARCHES[@]}"; do
        docker image inspect "$image-$arch" >/dev/null 2>&1 || continue
        docker tag "$image-$arch" "$REGISTRY/$image-$arch"
        run_logged "$WH_WORK_ROOT/logs/push-${image//\//_}-$arch.log" docker push "$REGISTRY/$image-$arch"
        sources+=("$REGISTRY/$image-$arch")
    done
    if ((${#sources[@]} == 0)); then
        log "no local $image-ARCH image (ARCH: ${ARCHES[*]}): skipped (scripts/setup.sh builds them)"
        return 0
    fi
    docker buildx imagetools create --tag "$REGISTRY/$image" "${sources[@]}" 2>&1 | sed 's/^/    /' >&2
    log "$REGISTRY/$image: ${sources[*]##*-}"
}

main() {
    local start image
    start=$(now_us)
    timed "registry" ensure_registry
    for image in "${IMAGES[@]}"; do
        timed "push $image" push_multiplatform "$image"
    done
    log "ready in $(elapsed_since "$start")"
}

main "$@"
