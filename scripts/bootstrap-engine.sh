#!/usr/bin/env bash
# Make sure a Docker engine, buildx and QEMU emulation for the other architecture are available.
#
# Usage: scripts/bootstrap-engine.sh
#
# - If `docker info` already answers (a developer's machine, Docker Desktop, CI with Docker), that engine is
#   kept and NOTHING is changed: buildx and binfmt are only checked, and a missing piece is an error with a hint.
# - Otherwise (a bare Debian bookworm machine, as root) it installs qemu-user-static, binfmt-support,
#   debootstrap, and docker.io + docker-cli + docker-buildx from Debian trixie (bookworm's 20.10 engine has a
#   BuildKit whose Dockerfile frontend rejects `RUN --network=none`), pinned so that nothing else comes from
#   trixie; registers QEMU with binfmt_misc and starts dockerd in the background
#   (log: /var/log/wheelhouse-dockerd.log).
# Idempotent: a second run only checks. Messages go to stderr, prefixed with [bootstrap].
set -euo pipefail

WH_LOG_TAG=bootstrap
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

DOCKERD_LOG=/var/log/wheelhouse-dockerd.log
TRIXIE_SOURCES=/etc/apt/sources.list.d/wheelhouse-trixie.sources
TRIXIE_PINS=/etc/apt/preferences.d/wheelhouse-trixie
# Engines older than this lack a BuildKit that accepts `RUN --network=none` in Dockerfiles.
MIN_ENGINE_VERSION=23
DEBIAN_PLUGIN_DIR=/usr/libexec/docker/cli-plugins
DOCKERD_WAIT_SECONDS=60

PREEXISTING=0  # 1 when an engine answered before we touched anything: then we only check

# --- apt: trixie for the engine only --------------------------------------------------------------------

# Adding trixie with `apt-get install -t trixie docker.io` would make trixie the default release and pull
# ~170 packages from it, libc6 included (a pin on `Package: *` does not beat -t). Instead trixie gets a low
# priority for everything and a high one for the three Docker packages only, so a plain `apt-get install
# docker.io` takes the engine from trixie and every dependency that bookworm can satisfy from bookworm.
ensure_trixie_source() {
    local mirror sources pins
    mirror=$(debian_mirror)
    sources="# Added by wheelhouse scripts/bootstrap-engine.sh: Docker engine >= 23 (see $TRIXIE_PINS).
Types: deb
URIs: $mirror
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"
    pins="# Added by wheelhouse scripts/bootstrap-engine.sh: only the Docker engine, CLI and buildx come from
# trixie; everything else stays bookworm's (100 < bookworm's 500, so trixie never upgrades a package).
Package: *
Pin: release n=trixie
Pin-Priority: 100

Package: docker.io docker-cli docker-buildx
Pin: release n=trixie
Pin-Priority: 990
"
    write_if_changed "$TRIXIE_SOURCES" "$sources"
    write_if_changed "$TRIXIE_PINS" "$pins"
}

# Rewriting an unchanged file would be harmless, but "changed nothing" is easier to trust when it is literal;
# a changed apt source also has to be re-read, hence the forced update.
write_if_changed() {
    local file=$1 content=$2
    if [[ -f $file && "$(<"$file")" == "${content%$'\n'}" ]]; then
        return 0
    fi
    log "writing $file"
    printf '%s' "$content" >"$file"
    _WH_APT_UPDATED=0
}

engine_package_ok() {
    local version
    pkg_installed docker.io || return 1
    version=$(dpkg-query -W -f='${Version}' docker.io)
    dpkg --compare-versions "$version" ge "$MIN_ENGINE_VERSION"
}

install_engine_packages() {
    [[ $EUID -eq 0 ]] || die "no docker engine answers and this is not root: cannot install one"
    command -v apt-get >/dev/null || die "no docker engine answers and no apt-get: install Docker by hand"
    ensure_trixie_source
    ensure_packages qemu-user-static binfmt-support debootstrap
    if engine_package_ok; then
        log "docker.io $(dpkg-query -W -f='${Version}' docker.io) already installed"
    else
        # docker-cli: keeps the engine usable without the separately installed client in /usr/local/bin.
        apt_install docker.io docker-cli
    fi
}

# --- QEMU binfmt ------------------------------------------------------------------------------------------

foreign_arch() { if [[ $(host_arch) == arm64 ]]; then echo amd64; else echo arm64; fi; }

# The foreign architectures the tests build for: the 64-bit one, and 32-bit ARM (armhf, Raspberry Pi OS).
foreign_arches() { echo "$(foreign_arch) armhf"; }

ensure_binfmt() {
    local arch
    for arch in $(foreign_arches); do ensure_binfmt_of "$arch"; done
}

ensure_binfmt_of() {
    local arch=$1 platform
    platform=$(docker_platform "$arch")
    if binfmt_ready "$arch"; then
        log "QEMU binfmt for $arch is registered with the F flag: $(flags_of "$arch")"
        return 0
    fi
    # An engine we did not start may run elsewhere (Docker Desktop's VM, a remote DOCKER_HOST), where this
    # machine's binfmt_misc says nothing: then the builder's own platform list is the evidence.
    if ((PREEXISTING)) && builder_platforms | grep -q "$platform"; then
        log "QEMU binfmt not registered here, but the engine's builder lists $platform: keeping it"
        return 0
    fi
    if ((PREEXISTING)); then
        die "QEMU binfmt for $arch is missing and this engine was not set up by us, so nothing is changed." \
            "Fix: apt-get install qemu-user-static binfmt-support (Debian/Ubuntu)," \
            "or docker run --privileged --rm tonistiigi/binfmt --install $(docker_arch "$arch")"
    fi
    if ! mountpoint -q /proc/sys/fs/binfmt_misc; then
        log "mounting binfmt_misc"
        mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
    fi
    # qemu-user-static's binfmt formats carry `fix_binary yes`, which gives the F flag.
    update-binfmts --enable
    binfmt_ready "$arch" || die "QEMU binfmt for $arch still not usable after update-binfmts --enable:" \
        "$(cat "/proc/sys/fs/binfmt_misc/qemu-$(binfmt_name "$arch")" 2>&1)"
    log "QEMU binfmt for $arch registered: $(flags_of "$arch")"
}

flags_of() { grep '^flags:' "/proc/sys/fs/binfmt_misc/qemu-$(binfmt_name "$1")" 2>/dev/null || echo "flags: ?"; }

# field NAME TEXT: the value of a "Name: value" line of `docker buildx inspect`.
field() { sed -n "s/^$1: *//p" <<<"$2" | head -n 1; }

builder_platforms() { field Platforms "$(docker buildx inspect --bootstrap 2>/dev/null || true)"; }

# --- dockerd ----------------------------------------------------------------------------------------------

start_dockerd() {
    local pid i
    if pgrep -x dockerd >/dev/null; then
        log "a dockerd is already running but not answering yet: waiting for it"
    else
        log "starting dockerd in the background (log: $DOCKERD_LOG)"
        # setsid + nohup + no inherited fds: dockerd must outlive this script and the shell that ran it.
        setsid nohup dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
        pid=$!
    fi
    for ((i = 0; i < DOCKERD_WAIT_SECONDS * 2; i++)); do
        docker_answers && return 0
        if [[ -n ${pid:-} ]] && ! kill -0 "$pid" 2>/dev/null; then
            tail -n 20 "$DOCKERD_LOG" >&2 || true
            die "dockerd exited during start-up; see $DOCKERD_LOG"
        fi
        sleep 0.5
    done
    tail -n 20 "$DOCKERD_LOG" >&2 || true
    die "docker info did not answer within ${DOCKERD_WAIT_SECONDS}s; see $DOCKERD_LOG"
}

# Each distinct docker binary on PATH (/bin/docker is /usr/bin/docker on a merged-/usr system).
docker_clients() {
    local client
    for client in $(type -ap docker); do readlink -f "$client"; done | awk '!seen[$0]++'
}

# Several clients may be on PATH (here a docker 28 client in /usr/local/bin shadows trixie's 26 in /usr/bin);
# whichever a user or the orchestrator ends up calling has to work, so check each of them. A client newer
# than the engine negotiates the engine's API version down by itself.
check_clients() {
    local client server
    while read -r client; do
        server=$("$client" version --format '{{.Server.Version}}' 2>/dev/null) ||
            die "$client cannot talk to the engine: $("$client" version 2>&1 | tail -n 3)"
        log "client $client $("$client" version --format '{{.Client.Version}}') -> engine $server"
    done < <(docker_clients)
}

ensure_engine() {
    if docker_answers; then
        PREEXISTING=1
        log "docker engine $(docker version --format '{{.Server.Version}}') answers: keeping it, only checking"
        return 0
    fi
    install_engine_packages
    # binfmt before dockerd: BuildKit in dockerd probes the emulators it can use when it starts, and then
    # lists linux/arm64 among the builder's platforms.
    timed "QEMU binfmt" ensure_binfmt
    timed "starting dockerd" start_dockerd
    check_clients
}

# --- buildx -----------------------------------------------------------------------------------------------

buildx_ok() { "$1" buildx version >/dev/null 2>&1; }

ensure_buildx() {
    local client
    if ! buildx_ok docker; then
        if ((PREEXISTING)); then
            die "docker buildx is missing and this engine was not set up by us, so nothing is changed." \
                "Fix: install the docker-buildx (Debian) or docker-buildx-plugin (Docker's repo) package"
        fi
        # Pinned to trixie by ensure_trixie_source; trixie's docker-buildx needs only libc6 >= 2.34.
        apt_install docker-buildx
    fi
    # Debian puts the plugin in /usr/libexec/docker/cli-plugins; a client that does not look there gets a
    # per-user symlink (the one directory every client searches).
    while read -r client; do
        buildx_ok "$client" && continue
        if ((PREEXISTING)); then
            log "warning: $client does not find the buildx plugin (\`docker\` does; nothing changed)"
            continue
        fi
        [[ -x $DEBIAN_PLUGIN_DIR/docker-buildx ]] || die "$client has no buildx and $DEBIAN_PLUGIN_DIR has none"
        log "$client does not search $DEBIAN_PLUGIN_DIR: linking the plugin into ~/.docker/cli-plugins"
        mkdir -p ~/.docker/cli-plugins
        ln -sfn "$DEBIAN_PLUGIN_DIR/docker-buildx" ~/.docker/cli-plugins/docker-buildx
        buildx_ok "$client" || die "$client still does not find buildx"
    done < <(docker_clients)
    log "buildx: $(docker buildx version)"
}

summary() {
    local builder arch
    builder=$(docker buildx inspect --bootstrap 2>/dev/null) || builder=""
    log "summary:"
    log "  engine : docker $(docker version --format '{{.Server.Version}}') (client $(docker version --format '{{.Client.Version}}'), $(command -v docker))"
    log "  buildx : $(docker buildx version)"
    log "  builder: $(field Name "$builder") ($(field Driver "$builder") driver)," \
        "platforms: $(field Platforms "$builder")"
    for arch in $(foreign_arches); do log "  binfmt : qemu-$(binfmt_name "$arch") $(flags_of "$arch")"; done
}

main() {
    local start
    start=$(now_us)
    timed "step 1/3: docker engine" ensure_engine
    timed "step 2/3: buildx" ensure_buildx
    # On the provisioning path this was done before dockerd started; here it is then only a check.
    timed "step 3/3: QEMU binfmt" ensure_binfmt
    summary
    log "ready in $(elapsed_since "$start")"
}

main "$@"
