# The MLflow tracking server of the compose stack: runs and registry in PostgreSQL, artifacts
# in MinIO (S3), served through this server so clients need no object-store credentials.
# The same MLflow version as the Conveyor package pins, so clients and server agree.
FROM python:3.11-slim-bookworm
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
RUN pip install "mlflow==3.17.2" "psycopg[binary]==3.3.9" "boto3==1.44.8"
RUN groupadd --system --gid 10002 mlflow \
    && useradd --system --uid 10002 --gid mlflow --home-dir /tmp --no-create-home \
       --shell /usr/sbin/nologin mlflow
USER 10002:10002
EXPOSE 5000
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=5 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:5000/health', timeout=4).status == 200 else 1)"]
CMD ["mlflow", "server", "--host", "0.0.0.0", "--port", "5000"]
