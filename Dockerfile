# syntax=docker/dockerfile:1
# inventory-exporter container image.
#
#   docker build --build-arg REVISION="$(git rev-parse HEAD)" -t inventory-exporter:0.1.0 .
#   docker run --rm --network host --ulimit nofile=65536:65536 -v /srv/smart-inventory:/srv/smart-inventory:ro \
#     -v "$PWD/deploy/compose/config.yml:/etc/inventory-exporter/config.yml:ro" inventory-exporter:0.1.0
#
# --ulimit: descriptors for --web.max-connections (512) plus the 256 the exporter keeps for its probes
# (an image cannot set its own limits; docker-compose.yml sets the same ulimits).
#
# Stage 1 builds the wheel (and the wheels of its dependencies) from pyproject.toml (hatchling);
# stage 2 installs them into a virtualenv, with no compiler and no build tools in the final image.
# The base image is pinned to an exact Python patch release and Debian release; pin it further by
# digest (python:3.11.11-slim-bookworm@sha256:...) in your registry if you mirror it.

ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
# Only what the wheel is built from (see .dockerignore): the metadata, the readme it embeds, the package.
COPY pyproject.toml README.md ./
COPY exporter/ ./exporter/
RUN python -m pip wheel --wheel-dir /wheels .

FROM ${PYTHON_IMAGE} AS runtime
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/inventory-exporter \
    PATH=/opt/inventory-exporter/bin:$PATH
# The wheels come from the build stage through a bind mount, so they never land in a layer.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python -m venv "$VIRTUAL_ENV" \
    && "$VIRTUAL_ENV/bin/pip" install --no-index --find-links=/wheels inventory-exporter \
    && "$VIRTUAL_ENV/bin/pip" uninstall -y pip \
    && groupadd --system --gid 10001 inventory-exporter \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin inventory-exporter \
    && mkdir -p /etc/inventory-exporter
# A default config (target smart-inventory at 127.0.0.1:3001, project in /srv/smart-inventory);
# mount your own over it.
COPY deploy/docker/config.yml /etc/inventory-exporter/config.yml
# The source revision (the build context has no .git): the revision label of
# inventory_exporter_build_info and what --version prints; empty when not given.
ARG REVISION=""
ENV INVENTORY_EXPORTER_REVISION=${REVISION}

USER 10001:10001
EXPOSE 9731
# slim has no curl: ask /-/healthy with the interpreter that runs the exporter.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:9731/-/healthy', timeout=4).status == 200 else 1)"]
ENTRYPOINT ["inventory-exporter"]
CMD ["--config.file=/etc/inventory-exporter/config.yml", "--web.listen-address=:9731"]
