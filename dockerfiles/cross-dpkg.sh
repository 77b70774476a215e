#!/bin/sh
# dpkg as auditwheel's SBOM asks it in a cross stage (the cross tools venv's bin/dpkg, first
# on PATH there). A library installed both for the build machine and for the target
# (multiarch) makes `dpkg -s NAME` ambiguous, and auditwheel then leaves the SBOM of the
# library it grafted out of the wheel; the target's (foreign) package is the one it grafted.
if [ "$#" -eq 2 ] && [ "$1" = "-s" ] && ! /usr/bin/dpkg -s "$2" >/dev/null 2>&1; then
    exec /usr/bin/dpkg -s "$2:$(/usr/bin/dpkg --print-foreign-architectures | head -n 1)"
fi
exec /usr/bin/dpkg "$@"
