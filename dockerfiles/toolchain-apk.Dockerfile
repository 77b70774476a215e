# Toolchain stage (apk): the target's base image, a C compiler and the system packages of
# every planned build, installed once. BuildKit caches it between runs.
# The base image is a build arg: `FROM name:${TARGETARCH}`-style tags resolve empty with
# the docker driver, and one tag holds one platform in the classic image store.
ARG BASE_IMAGE
FROM ${BASE_IMAGE} AS toolchain
RUN apk add --no-cache @@{packages}
