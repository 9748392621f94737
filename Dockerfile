# syntax=docker/dockerfile:1
# Conveyor's model server. No model is baked in: at start `conveyor serve` asks the registry
# at CONVEYOR_TRACKING_URI which version of CONVEYOR_MODEL_NAME holds the alias
# CONVEYOR_MODEL_STAGE, downloads it into CONVEYOR_HOME and serves it; a promotion needs no
# new image. CONVEYOR_HOME is the only place written (an emptyDir on Kubernetes, where the
# root filesystem is read-only), besides /tmp.
#
#   docker build -t conveyor .
#   docker run -p 8000:8000 -e CONVEYOR_MODEL_NAME=wine \
#     -e CONVEYOR_TRACKING_URI=http://mlflow:5000 \
#     -e CONVEYOR_STORE_URL=postgresql+psycopg://conveyor@postgres/conveyor conveyor

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/conveyor
COPY pyproject.toml README.md ./
COPY src ./src
# the project's own pins (pyproject.toml) decide the versions; postgres: the shared store
RUN /opt/conveyor/bin/pip install ".[postgres]"

FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 conveyor \
    && useradd --system --uid 10001 --gid conveyor --home-dir /var/lib/conveyor \
       --no-create-home --shell /usr/sbin/nologin conveyor \
    && install -d -o conveyor -g conveyor -m 0750 /var/lib/conveyor
COPY --from=build /opt/conveyor /opt/conveyor
ENV PATH=/opt/conveyor/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/var/lib/conveyor \
    CONVEYOR_HOME=/var/lib/conveyor \
    CONVEYOR_CACHE_DIR=/var/lib/conveyor/cache \
    CONVEYOR_MODEL_STAGE=production \
    CONVEYOR_LOG_FORMAT=json \
    MLFLOW_DISABLE_TELEMETRY=true
WORKDIR /var/lib/conveyor
# numeric, so Kubernetes' runAsNonRoot can check it without reading /etc/passwd
USER 10001:10001
EXPOSE 8000
# no curl in a slim image: the interpreter that is already there probes /health
HEALTHCHECK --interval=15s --timeout=5s --start-period=90s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status == 200 else 1)"]
CMD ["conveyor", "serve", "--host", "0.0.0.0", "--port", "8000"]
