# mcp-k8s container image: `docker build -t mcp-k8s .`
#
# BASE is pinned to a Python minor and a Debian release (python:3.11-slim-bookworm: CPython 3.11 on Debian 12, the
# release our wheels are built for). Pin it further by digest in your own builds
# (--build-arg BASE=python:3.11-slim-bookworm@sha256:...). Offline builds (the test suite's) pass a locally imported
# Debian bookworm root filesystem with Debian's python3 as BASE, a wheelhouse as ./wheels in the build context, and
# PIP_INSTALL_OPTIONS="--no-index --find-links /build"; see tests/deploy/image.py.
#
# The final stage holds the base's Python and one virtualenv (without pip): no compiler, no pip cache, no sources.
# It runs as UID 10001 and writes nothing outside /tmp, so `--read-only --tmpfs /tmp` (or a pod's
# readOnlyRootFilesystem with an emptyDir on /tmp) works.
ARG BASE=python:3.11-slim-bookworm

FROM ${BASE} AS build
ARG PIP_INSTALL_OPTIONS=""
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
# Dependencies first, in their own layer, rebuilt only when pyproject.toml (or the offline wheelhouse) changes.
# `wheel[s]` copies the wheelhouse's files when the context has one and is skipped when it does not.
COPY pyproject.toml wheel[s] /build/
RUN python3 -m venv /opt/mcp-k8s \
 && python3 -c 'import tomllib; print("\n".join(tomllib.load(open("/build/pyproject.toml", "rb"))["project"]["dependencies"]))' \
    > /build/requirements.txt \
 && /opt/mcp-k8s/bin/pip install $PIP_INSTALL_OPTIONS --requirement /build/requirements.txt
# Then the package itself. pip compiles every module to bytecode, so a read-only root costs nothing at start-up.
COPY pyproject.toml README.md /src/
COPY mcp_k8s /src/mcp_k8s
RUN /opt/mcp-k8s/bin/pip install $PIP_INSTALL_OPTIONS --no-deps /src \
 && /opt/mcp-k8s/bin/pip uninstall --yes pip setuptools \
 && /opt/mcp-k8s/bin/mcp-k8s --version

FROM ${BASE}
ARG BASE
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="mcp-k8s" \
      org.opencontainers.image.description="A natively async MCP server for Kubernetes with a live watch cache." \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="${BASE}"
RUN groupadd --system --gid 10001 mcp-k8s \
 && useradd --system --uid 10001 --gid 10001 --home-dir /tmp --no-create-home --shell /usr/sbin/nologin mcp-k8s
COPY --from=build /opt/mcp-k8s /opt/mcp-k8s
ENV PATH=/opt/mcp-k8s/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
# Numeric, so Kubernetes can verify runAsNonRoot without reading /etc/passwd.
USER 10001:10001
WORKDIR /tmp
# 8080: MCP over streamable HTTP; 8081: /healthz /readyz /metrics (the chart's defaults).
EXPOSE 8080 8081
ENTRYPOINT ["mcp-k8s"]
CMD ["--help"]
