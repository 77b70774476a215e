
# Cross-build @@{name} on the build machine, offline; then check its ELF symbols against
# the target's libraries (natively: the target's files are only read). The libraries the
# wheel leaves to the runtime image's packages (recipe/auditwheel-exclude: uwsgi's
# libpython) are not in the base image: the target's builds of them, from the -dev
# packages' multiarch dependencies here, stand in for them in both checks (syslibs/).
FROM xtools AS xpkg-@@{name}
RUN --network=none \
    --mount=type=bind,source=sdists/@@{sdist},target=/wheelhouse/in/@@{sdist} \
    --mount=type=bind,source=xdeps/@@{name},target=/wheelhouse/deps \
    --mount=type=bind,source=build-wheel.sh,target=/wheelhouse/build-wheel.sh \
    --mount=type=bind,source=backend-requires.py,target=/wheelhouse/backend-requires.py \
    --mount=type=bind,source=cross-build-wheel.sh,target=/wheelhouse/cross-build-wheel.sh \
    --mount=type=bind,source=check-wheel.py,target=/wheelhouse/check-wheel.py \
    --mount=type=bind,from=target-root,target=/wheelhouse/target \
    --mount=type=bind,source=recipes/@@{name},target=/wheelhouse/recipe \
@@{secret_mounts}    SOURCE_DATE_EPOCH=@@{epoch} sh /wheelhouse/cross-build-wheel.sh @@{name} /wheelhouse/in/@@{sdist} /wheelhouse/deps \
    @@{timeout} @@{platform_tag} @@{venv} @@{env_file} @@{python} /wheelhouse/recipe \
 && mkdir -p /wheelhouse/syslibs \
 && { [ ! -f /wheelhouse/recipe/auditwheel-exclude ] || while read -r soname; do \
        for lib in /usr/lib/@@{triplet}/$soname; do [ ! -f "$lib" ] || cp -L "$lib" /wheelhouse/syslibs/; done; \
    done </wheelhouse/recipe/auditwheel-exclude; } \
 && @@{venv}/bin/python /wheelhouse/check-wheel.py symbols @@{name} /out/@@{name} \
    /out/@@{name} /wheelhouse/target @@{python} /wheelhouse/syslibs || true

# Check the cross-built @@{name} on the target (under QEMU when foreign): load and import.
FROM ${BASE_IMAGE} AS xcheck-@@{name}
RUN --network=none --mount=type=bind,from=xpkg-@@{name},source=/out/@@{name},target=/wheelhouse/built \
    --mount=type=bind,from=xpkg-@@{name},source=/wheelhouse/syslibs,target=/wheelhouse/syslibs \
    --mount=type=bind,source=check-wheel.py,target=/wheelhouse/check-wheel.py \
    LD_LIBRARY_PATH=/wheelhouse/syslibs \
    @@{python} /wheelhouse/check-wheel.py target @@{name} /wheelhouse/built /out/@@{name}@@{import_flag} \
    || true
