
# Build @@{name} offline; the script always exits 0 and leaves status, log and wheels in /out.
FROM tools AS @@{stage}
RUN --network=none \
    --mount=type=bind,source=sdists/@@{sdist},target=/wheelhouse/in/@@{sdist} \
    --mount=type=bind,source=deps/@@{name},target=/wheelhouse/deps \
    --mount=type=bind,source=build-wheel.sh,target=/wheelhouse/build-wheel.sh \
    --mount=type=bind,source=backend-requires.py,target=/wheelhouse/backend-requires.py \
    --mount=type=bind,source=recipes/@@{name},target=/wheelhouse/recipe \
@@{secret_mounts}    SOURCE_DATE_EPOCH=@@{epoch} sh /wheelhouse/build-wheel.sh @@{name} /wheelhouse/in/@@{sdist} /wheelhouse/deps \
    @@{timeout} @@{platform_tag} @@{venv} /wheelhouse/recipe
