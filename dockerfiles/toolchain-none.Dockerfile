# Toolchain stage (no package manager): the base image must already hold its compiler.
# The base image is a build arg: `FROM name:${TARGETARCH}`-style tags resolve empty with
# the docker driver, and one tag holds one platform in the classic image store.
ARG BASE_IMAGE
FROM ${BASE_IMAGE} AS toolchain
