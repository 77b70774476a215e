
# Cross-build @@{name} on the build machine, offline; then check its ELF symbols against
# the target's libraries (natively: the target's files are only read).
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
 && @@{venv}/bin/python /wheelhouse/check-wheel.py symbols @@{name} /out/@@{name} \
    /out/@@{name} /wheelhouse/target @@{python} || true

# Check the cross-built @@{name} on the target (under QEMU when foreign): load and import.
FROM ${BASE_IMAGE} AS xcheck-@@{name}
RUN --network=none --mount=type=bind,from=xpkg-@@{name},source=/out/@@{name},target=/wheelhouse/built \
    --mount=type=bind,source=check-wheel.py,target=/wheelhouse/check-wheel.py \
    @@{python} /wheelhouse/check-wheel.py target @@{name} /wheelhouse/built /out/@@{name}@@{import_flag} \
    || true
