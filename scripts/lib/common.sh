# shellcheck shell=bash
# Helpers shared by scripts/*.sh: logging with timings, the Debian mirror, apt, docker checks and
# the [amd64|arm64] [--force] argument convention. Sourced, never run; the caller sets `set -euo pipefail`
# and WH_LOG_TAG (the prefix of every message) before sourcing.

: "${WH_LOG_TAG:=wheelhouse}"

# Where the test images and the work files go. The tests only know the defaults; the overrides let a
# from-scratch build be tried or timed on a machine whose real test images are in use, e.g.
#   WHEELHOUSE_TEST_IMAGE_PREFIX=wheelhouse-scratch WHEELHOUSE_TEST_WORK=/var/tmp/wh-scratch scripts/setup.sh
# shellcheck disable=SC2034  # read by the scripts that source this file
WH_IMAGE_PREFIX=${WHEELHOUSE_TEST_IMAGE_PREFIX:-wheelhouse-test}
# shellcheck disable=SC2034
WH_WORK_ROOT=${WHEELHOUSE_TEST_WORK:-/var/cache/wheelhouse-test}

# Every message goes to stderr so that stdout stays free for data a caller may want to capture.
log() { printf '[%s] %s\n' "$WH_LOG_TAG" "$*" >&2; }
die() {
    log "ERROR: $*"
    exit 1
}

# Microseconds since the epoch from bash's own clock (no fork); the separator depends on the locale.
now_us() { printf '%s' "${EPOCHREALTIME//[.,]/}"; }

# Seconds since a now_us value, with one decimal: "3.2s".
elapsed_since() {
    local us=$(($(now_us) - $1))
    printf '%d.%ds' $((us / 1000000)) $((us % 1000000 / 100000))
}

# timed DESCRIPTION COMMAND [ARGS...]: announce a step, run it, say how long it took.
# Deliberately no `cmd || rc=$?` here: bash ignores `set -e` inside anything run on the left of || or &&,
# so a failing command deep in a step would go unnoticed. A failure exits the script instead, and the EXIT
# trap below names the step(s) that were running and for how long.
_WH_STEPS=()
_WH_STARTS=()
timed() {
    local desc=$1
    shift
    log "$desc ..."
    _WH_STEPS+=("$desc")
    _WH_STARTS+=("$(now_us)")
    "$@"
    log "$desc: done in $(elapsed_since "${_WH_STARTS[-1]}")"
    unset '_WH_STEPS[-1]' '_WH_STARTS[-1]'
}

# run_logged LOGFILE COMMAND [ARGS...]: keep a chatty command's output in a file; should it fail, the EXIT
# trap shows the end of that file (same reason as in timed() for not using ||).
_WH_LOGS=()
run_logged() {
    local logfile=$1
    shift
    mkdir -p "$(dirname "$logfile")"
    _WH_LOGS+=("$logfile")
    "$@" >"$logfile" 2>&1
    unset '_WH_LOGS[-1]'
}

# at_exit COMMAND...: run at exit, in reverse order of registration (clean-up of work trees and the like).
_WH_AT_EXIT=()
at_exit() {
    local cmd
    cmd=$(printf '%q ' "$@")
    _WH_AT_EXIT=("$cmd" "${_WH_AT_EXIT[@]}")
}

_wh_on_exit() {
    local rc=$? i cmd
    for ((i = ${#_WH_LOGS[@]} - 1; i >= 0; i--)); do
        log "last lines of ${_WH_LOGS[i]}:"
        tail -n 25 "${_WH_LOGS[i]}" | sed 's/^/    /' >&2 || true
    done
    for ((i = ${#_WH_STEPS[@]} - 1; i >= 0; i--)); do
        log "${_WH_STEPS[i]}: FAILED (exit $rc) after $(elapsed_since "${_WH_STARTS[i]}")"
    done
    # Background jobs first: they may still use what the at_exit commands remove.
    _wh_stop_jobs
    for cmd in "${_WH_AT_EXIT[@]}"; do eval "$cmd" || true; done
    return "$rc"
}
trap _wh_on_exit EXIT
# A signal ends the script through `exit`, so that the EXIT trap above still cleans up and stops the jobs.
trap 'exit 130' INT
trap 'exit 143' TERM

# --- steps that run side by side -------------------------------------------------------------------------
# job_add NAME LOGFILE "DEPS" COMMAND [ARGS...]: declare a step (a function of the calling script or a
# program) that jobs_run starts in the background as soon as every job named in DEPS (space-separated) has
# succeeded. Its stdout and stderr go to LOGFILE; its messages are shown once it is done.
# jobs_run: run the declared jobs. The first failure shows the end of that job's log, stops the other jobs
# (each runs its own EXIT trap: unmounts, work trees, containers) and exits; so does any exit of the script.
# Each job is a subshell in a process group of its own, so that stopping it reaches every process it
# started (debootstrap, docker CLIs, ...), and nothing is left running behind the script.
declare -A _WH_JOB_CMD=() _WH_JOB_LOG=() _WH_JOB_DEPS=() _WH_JOB_STATE=() _WH_JOB_START=() _WH_JOB_OF_PID=()
_WH_JOB_NAMES=()
_WH_JOB_PIDS=() # running jobs (pids = process group ids)
_WH_JOB_STOP_SECONDS=${WH_JOB_STOP_SECONDS:-60}

job_add() {
    local name=$1 logfile=$2 deps=$3
    shift 3
    [[ -z ${_WH_JOB_STATE[$name]:-} ]] || die "job $name declared twice"
    _WH_JOB_NAMES+=("$name")
    _WH_JOB_LOG[$name]=$logfile
    _WH_JOB_DEPS[$name]=$deps
    _WH_JOB_CMD[$name]=$(printf '%q ' "$@")
    _WH_JOB_STATE[$name]=pending
}

# The body of a job, in its background subshell: the parent's clean-up lists and jobs are not its own.
_wh_job_body() {
    local name=$1
    _WH_STEPS=() _WH_STARTS=() _WH_LOGS=() _WH_AT_EXIT=() _WH_JOB_PIDS=()
    WH_LOG_TAG="$WH_LOG_TAG/$name"
    trap _wh_on_exit EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    eval "${_WH_JOB_CMD[$name]}"
}

_wh_job_start() {
    local name=$1 logfile=${_WH_JOB_LOG[$1]} pid
    mkdir -p "$(dirname "$logfile")"
    log "$name: started (log: $logfile)"
    _WH_JOB_START[$name]=$(now_us)
    # Job control only while forking: the job gets a process group of its own (and SIGINT is not ignored
    # in it, as it would be in a plain background command); foreground commands are unaffected.
    set -m
    _wh_job_body "$name" </dev/null >"$logfile" 2>&1 &
    pid=$!
    set +m
    _WH_JOB_OF_PID[$pid]=$name
    _WH_JOB_PIDS+=("$pid")
    _WH_JOB_STATE[$name]=running
}

_wh_job_forget() {
    local pid=$1 p kept=()
    for p in "${_WH_JOB_PIDS[@]}"; do [[ $p == "$pid" ]] || kept+=("$p"); done
    _WH_JOB_PIDS=("${kept[@]}")
}

jobs_run() {
    local name dep ready pid rc waiting
    while :; do
        waiting=0
        for name in "${_WH_JOB_NAMES[@]}"; do
            [[ ${_WH_JOB_STATE[$name]} == pending ]] || continue
            ready=1
            for dep in ${_WH_JOB_DEPS[$name]}; do
                [[ ${_WH_JOB_STATE[$dep]:-} == succeeded ]] || ready=0
            done
            if ((ready)); then _wh_job_start "$name"; else waiting=1; fi
        done
        if ((${#_WH_JOB_PIDS[@]} == 0)); then
            ((waiting == 0)) || die "jobs left waiting for unknown jobs: check the DEPS given to job_add"
            break
        fi
        pid='' rc=0
        wait -n -p pid "${_WH_JOB_PIDS[@]}" || rc=$?
        [[ -n $pid && -n ${_WH_JOB_OF_PID[$pid]:-} ]] || die "wait returned $rc for no known job"
        name=${_WH_JOB_OF_PID[$pid]}
        _wh_job_forget "$pid"
        if ((rc != 0)); then
            _WH_JOB_STATE[$name]=failed
            log "$name: FAILED (exit $rc) after $(elapsed_since "${_WH_JOB_START[$name]}");" \
                "last lines of ${_WH_JOB_LOG[$name]}:"
            tail -n 40 "${_WH_JOB_LOG[$name]}" | sed 's/^/    /' >&2 || true
            die "$name failed: stopping the other jobs"
        fi
        _WH_JOB_STATE[$name]=succeeded
        log "$name: done in $(elapsed_since "${_WH_JOB_START[$name]}"):"
        sed 's/^/    /' "${_WH_JOB_LOG[$name]}" >&2
    done
    # A next round of job_add/jobs_run starts afresh.
    _WH_JOB_NAMES=()
}

# Stop the running jobs: SIGTERM to each job's process group, some time to clean up, then SIGKILL.
_wh_stop_jobs() {
    local pid name deadline
    ((${#_WH_JOB_PIDS[@]})) || return 0
    for pid in "${_WH_JOB_PIDS[@]}"; do
        name=${_WH_JOB_OF_PID[$pid]:-$pid}
        log "stopping $name (process group $pid; log: ${_WH_JOB_LOG[$name]:-?})"
        kill -TERM -- "-$pid" 2>/dev/null || true
    done
    deadline=$((SECONDS + _WH_JOB_STOP_SECONDS))
    for pid in "${_WH_JOB_PIDS[@]}"; do
        while kill -0 -- "-$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
        if kill -0 -- "-$pid" 2>/dev/null; then
            log "${_WH_JOB_OF_PID[$pid]:-$pid}: still running after ${_WH_JOB_STOP_SECONDS}s: SIGKILL"
            kill -KILL -- "-$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true
    done
    _WH_JOB_PIDS=()
}

# remove_container NAME: for at_exit; a container that is already gone (docker run --rm) is fine.
remove_container() { docker rm -f "$1" >/dev/null 2>&1 || true; }

# The Debian mirror this machine already uses, so that no host name is ever hard-coded: the first URI of
# the first deb822 stanza of debian.sources that is not the security archive (which only has *-security
# suites). WHEELHOUSE_DEBIAN_MIRROR overrides it for machines set up differently.
debian_mirror() {
    local sources=/etc/apt/sources.list.d/debian.sources mirror
    if [[ -n ${WHEELHOUSE_DEBIAN_MIRROR:-} ]]; then
        printf '%s\n' "${WHEELHOUSE_DEBIAN_MIRROR%/}"
        return
    fi
    [[ -r $sources ]] || die "$sources not found: set WHEELHOUSE_DEBIAN_MIRROR to a Debian mirror URL"
    mirror=$(awk 'BEGIN { RS = ""; FS = "\n" }
        {
            uri = ""; security = 0
            for (i = 1; i <= NF; i++) {
                if ($i ~ /^URIs:/) { split($i, f, /[ \t]+/); uri = f[2] }
                if ($i ~ /^Suites:/ && $i ~ /-security/) security = 1
            }
            if (uri != "" && !security) { print uri; exit }
        }' "$sources")
    [[ -n $mirror ]] || die "no Debian mirror found in $sources: set WHEELHOUSE_DEBIAN_MIRROR"
    printf '%s\n' "${mirror%/}"
}

pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

# apt-get update at most once per script run, and only when something has to be installed.
_WH_APT_UPDATED=0
apt_update_once() {
    ((_WH_APT_UPDATED)) && return 0
    timed "apt-get update" apt-get update -qq
    _WH_APT_UPDATED=1
}

apt_install() {
    apt_update_once
    # Recommends are left out on purpose: they drag in needrestart, apparmor tooling, git, ...
    timed "apt-get install $*" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# ensure_packages PKG...: install those not installed yet; a no-op (and no apt-get update) otherwise.
ensure_packages() {
    local pkg missing=()
    for pkg in "$@"; do pkg_installed "$pkg" || missing+=("$pkg"); done
    if ((${#missing[@]} == 0)); then
        log "packages already installed: $*"
        return 0
    fi
    [[ $EUID -eq 0 ]] || die "need root to install: ${missing[*]}"
    apt_install "${missing[@]}"
}

docker_answers() { timeout 20 docker info >/dev/null 2>&1; }

require_engine() {
    docker_answers || die "no docker engine answers: run scripts/bootstrap-engine.sh first"
    docker buildx version >/dev/null 2>&1 || die "docker buildx missing: run scripts/bootstrap-engine.sh first"
}

# Debian architecture name -> the kernel/uname name (also QEMU's binfmt entry suffix).
uname_arch() {
    case $1 in
        amd64) echo x86_64 ;;
        arm64) echo aarch64 ;;
        armhf) echo armv7l ;;
        *) die "unsupported architecture: $1 (amd64, arm64 or armhf)" ;;
    esac
}

# Debian architecture name -> Docker's platform (armhf is linux/arm/v7: 32-bit ARM, hard-float).
docker_platform() {
    case $1 in
        armhf) echo linux/arm/v7 ;;
        *) echo "linux/$1" ;;
    esac
}

# Debian architecture name -> what `docker image inspect` says as .Architecture (armhf's is arm).
docker_arch() {
    case $1 in
        armhf) echo arm ;;
        *) echo "$1" ;;
    esac
}

# Debian architecture name -> the suffix of QEMU's binfmt entry (qemu-arm handles armhf).
binfmt_name() {
    case $1 in
        armhf) echo arm ;;
        *) uname_arch "$1" ;;
    esac
}

host_arch() {
    if command -v dpkg >/dev/null; then
        dpkg --print-architecture
    else
        case $(uname -m) in x86_64) echo amd64 ;; aarch64 | arm64) echo arm64 ;; *) uname -m ;; esac
    fi
}

# A foreign architecture runs only if the kernel hands its binaries to a QEMU registered with the F
# (fix-binary) flag: the interpreter is then opened at registration time and works inside containers too.
binfmt_ready() {
    local entry
    [[ $1 == "$(host_arch)" ]] && return 0
    entry=/proc/sys/fs/binfmt_misc/qemu-$(binfmt_name "$1")
    [[ -r $entry ]] && grep -qx enabled "$entry" && grep -qE '^flags:.*F' "$entry"
}

require_binfmt() {
    binfmt_ready "$1" || die "QEMU binfmt for $1 is missing: run scripts/bootstrap-engine.sh first"
}

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

image_arch() { docker image inspect --format '{{.Architecture}}' "$1"; }

image_id() { docker image inspect --format '{{.Id}}' "$1" 2>/dev/null || true; }

# After a --force rebuild the previous image is left untagged; drop it (unless something still uses it).
drop_replaced_image() {
    local old_id=$1 name=$2
    [[ -n $old_id && $old_id != "$(image_id "$name")" ]] || return 0
    if docker image rm "$old_id" >/dev/null 2>&1; then
        log "removed the replaced image ${old_id#sha256:}"
    else
        log "note: the replaced image ${old_id#sha256:} is still in use; left in place"
    fi
}

# skip_existing NAME ARCH: true (and says so) when NAME exists for ARCH and --force was not given.
skip_existing() {
    local name=$1 arch=$2 have
    ((FORCE)) && return 1
    image_exists "$name" || return 1
    have=$(image_arch "$name")
    # With the classic image store one tag holds one platform; a tag holding the wrong one makes BuildKit
    # go to a registry when a build asks for this platform, so such an image is rebuilt, not reused.
    if [[ $have != "$(docker_arch "$arch")" ]]; then
        log "$name exists but is $have, not $arch: rebuilding it"
        return 1
    fi
    log "$name exists ($arch): reusing it (--force rebuilds)"
}

# parse_build_args "$@": sets ARCHES (array), FORCE and VERIFY (0/1) for the image-building scripts.
# shellcheck disable=SC2034  # all three are read by the scripts that source this file
parse_build_args() {
    ARCHES=()
    FORCE=0
    VERIFY=0
    local arg
    for arg in "$@"; do
        case $arg in
            amd64 | arm64 | armhf) ARCHES+=("$arg") ;;
            all | both) ARCHES+=(amd64 arm64) ;;
            -f | --force) FORCE=1 ;;
            --verify) VERIFY=1 ;;
            -h | --help)
                sed -n '2,/^$/s/^# \{0,1\}//p' "$0"
                exit 0
                ;;
            *) die "unknown argument: $arg (expected amd64, arm64, armhf, --force, --verify)" ;;
        esac
    done
    ((${#ARCHES[@]})) || ARCHES=(amd64 arm64)
}

# Remove a build tree that may still hold mount points (a debootstrap that died leaves proc/sys mounted
# inside it): unmount those first, and never let rm cross into another file system.
remove_tree() {
    local dir=$1 mnt
    [[ -e $dir ]] || return 0
    while read -r mnt; do
        umount -l "$mnt" 2>/dev/null || true
    done < <(findmnt -rn -o TARGET | grep -F "$dir/" | sort -r)
    rm -rf --one-file-system "$dir"
}
