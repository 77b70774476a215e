#!/bin/sh
# Library config tools (curl-config, mysql_config, ...) answering for the cross target from
# its own pkg-config files: never by running a target binary.
#
# Usage: cross-config.sh install DIR BUILD_TRIPLET TARGET_TRIPLET   (cross-python.sh, xpython stage)
#        TOOL [OPTION...]   (a copy in DIR named after the tool)
#
# The answers are pkg-config's (the build machine's pkgconf) for the module the table below
# names, with the PKG_CONFIG_LIBDIR and PKG_CONFIG_SYSROOT_DIR of the cross env file: the
# target's .pc files, so its multiarch directories (Debian) or its image's (musl stand-in).
# `install` writes a copy only for a tool whose module the target has and whose own copy
# cannot answer: missing (Debian drops freetype-config; a musl target's tools are in its
# image, not on PATH), or a program (mariadb_config is an ELF for the target), or a script
# naming BUILD_TRIPLET (it answers for the build machine). Debian's scripts that answer for
# the target (pg_config, curl-config, xml2-config, xslt-config, net-snmp-config) are kept.
# With WHEELHOUSE_CONFIG_LOG set, each answer is also appended there. It also writes TRIPLET-pkg-config for builds that look for the host's pkg-config. An option
# the table has no answer for fails (exit 2) with a message instead of a wrong answer.
set -u

# tool -> the pkg-config modules it answers for, the first the target has.
modules() {
    case $1 in
        curl-config) echo libcurl ;;
        xml2-config) echo libxml-2.0 ;;
        xslt-config) echo libxslt ;;
        freetype-config) echo freetype2 ;;
        mysql_config | mariadb_config | mariadb-config) echo mysqlclient libmariadb mariadb ;;
        net-snmp-config) echo netsnmp ;;
        pg_config) echo libpq ;;
    esac
}
TOOLS="curl-config xml2-config xslt-config freetype-config mysql_config mariadb_config mariadb-config net-snmp-config pg_config"

module_of() {
    for module in $(modules "$1"); do
        if pkg-config --exists "$module" 2>/dev/null; then echo "$module"; return 0; fi
    done
    return 1
}

fail() {
    echo "$tool (wheelhouse cross stage): $*" >&2
    exit 2
}

# The hexadecimal version number curl-config --vernum prints (7.88.1 -> 075801).
vernum() {
    echo "$1" | awk -F. '{ printf "%02x%02x%02x\n", $1, $2, $3 }'
}

# curl-config --ssl-backends, from the libraries libcurl links.
ssl_backends() {
    libs=" $(pkg-config --static --libs "$module") "
    case $libs in
        *" -lssl "*) echo "OpenSSL" ;;
        *" -lgnutls "*) echo "GnuTLS" ;;
        *" -lmbedtls "*) echo "mbedTLS" ;;
        *" -lwolfssl "*) echo "wolfSSL" ;;
        *) fail "--ssl-backends: $module.pc links no known TLS library" ;;
    esac
}

# One option of a tool: its answer on stdout; pkg-config's flag options are gathered into
# $flags (one line at the end, as xml2-config prints `--cflags --libs`).
answer() {
    case $tool:$1 in
        *:--cflags) flags="$flags --cflags" ;;
        *:--libs | mysql_config:--libs_r | mariadb*:--libs_r) flags="$flags --libs" ;;
        curl-config:--static-libs) flags="$flags --static --libs" ;;
        freetype-config:--static) flags="$flags --static" ;;
        mysql_config:--include | mariadb*:--include | pg_config:--cppflags) flags="$flags --cflags-only-I" ;;
        pg_config:--ldflags) flags="$flags --libs-only-L" ;;
        curl-config:--version) echo "libcurl $(pkg-config --modversion "$module")" ;;
        pg_config:--version) echo "PostgreSQL $(pkg-config --modversion "$module")" ;;
        *:--version | *:--modversion) pkg-config --modversion "$module" ;;
        freetype-config:--ftversion) ftversion ;;
        curl-config:--vernum) vernum "$(pkg-config --modversion "$module")" ;;
        curl-config:--features) variable supported_features | tr ' ' '\n' | sed '/^$/d' ;;
        curl-config:--protocols) variable supported_protocols | tr ' ' '\n' | sed '/^$/d' ;;
        curl-config:--ssl-backends) ssl_backends ;;
        *:--prefix) variable prefix ;;
        *:--exec-prefix)
            if [ -n "$(pkg-config --variable=exec_prefix "$module")" ]; then variable exec_prefix; else variable prefix; fi ;;
        *:--includedir | mysql_config:--variable=pkgincludedir | mariadb*:--variable=pkgincludedir) variable includedir ;;
        *:--libdir | mysql_config:--variable=pkglibdir | mariadb*:--variable=pkglibdir) variable libdir ;;
        *) fail "$1: not answered for the target (this stand-in answers from $module.pc:" \
            "--cflags, --libs, --version, --prefix, --includedir, --libdir and the tool's own" \
            "listed in dockerfiles/cross-config.sh); set the build's flags in the package's" \
            "recipe env, or build it with build_mode: emulate" ;;
    esac
}

variable() {
    value=$(pkg-config --variable="$1" "$module") && [ -n "$value" ] ||
        fail "${option:-$1}: $module.pc has no $1 variable"
    echo "$value"
}

# FreeType's own version (2.12.1), from the target's freetype.h: the .pc has libtool's.
ftversion() {
    for dir in $(pkg-config --cflags-only-I "$module" | sed 's/-I//g'); do
        [ -f "$dir/freetype/freetype.h" ] || continue
        awk '/^#define FREETYPE_(MAJOR|MINOR|PATCH)/ { v = v (v == "" ? "" : ".") $3 } END { print v }' \
            "$dir/freetype/freetype.h"
        return 0
    done
    fail "--ftversion: no freetype/freetype.h in $module.pc's include directories"
}

# The tool on PATH besides DIR's, if any.
existing() {
    dir=$1 name=$2
    (PATH=$(echo ":$PATH:" | sed "s@:$dir:@:@g; s@^:@@; s@:\$@@") && command -v "$name") 2>/dev/null
}

install() {
    dir=$1 build=$2 target=$3 self=$0
    mkdir -p "$dir" || exit 1
    for tool in $TOOLS; do
        module=$(module_of "$tool") || continue
        own=$(existing "$dir" "$tool")
        if [ -n "$own" ] && [ "$(head -c 2 "$own")" = "#!" ] && ! grep -q "$build" "$own"; then
            echo "wheelhouse: cross setup: $tool: the target's own ($own)"
            continue
        fi
        cp "$self" "$dir/$tool" && chmod 755 "$dir/$tool" || exit 1
        echo "wheelhouse: cross setup: $tool: answers from the target's $module.pc${own:+ (not $own)}"
    done
    # The cross env file's PKG_CONFIG_LIBDIR and PKG_CONFIG_SYSROOT_DIR make it the target's.
    command -v pkg-config >/dev/null || return 0
    printf '#!/bin/sh\nexec pkg-config "$@"\n' >"$dir/$target-pkg-config" &&
        chmod 755 "$dir/$target-pkg-config" || exit 1
}

tool=${0##*/}
if [ "$tool" = cross-config.sh ]; then
    [ "${1:-}" = install ] && [ "$#" -eq 4 ] ||
        fail "usage: cross-config.sh install DIR BUILD_TRIPLET TARGET_TRIPLET"
    install "$2" "$3" "$4"
    exit 0
fi
command -v pkg-config >/dev/null || fail "no pkg-config in the cross stage"
module=$(module_of "$tool") || fail "the target has none of the pkg-config modules $(modules "$tool")"
[ "$#" -gt 0 ] || fail "no option given"
flags=
answers=$(
    for option in "$@"; do answer "$option"; done
    if [ -n "$flags" ]; then
        # shellcheck disable=SC2086  # $flags is a list of options
        pkg-config $flags "$module" || fail "pkg-config$flags $module failed"
    fi
) || exit $?
printf '%s\n' "$answers"
# cross-build-wheel.sh puts each answer in the build log.
if [ -n "${WHEELHOUSE_CONFIG_LOG:-}" ]; then
    echo "$tool $* -> $(printf '%s' "$answers" | tr '\n' ' ' | sed 's/  */ /g; s/ $//') ($module.pc)" >>"$WHEELHOUSE_CONFIG_LOG"
fi
