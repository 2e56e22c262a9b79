# The gateway: Starlette + uvicorn, no torch and no model weights (it never runs a model).
#   docker build -f deploy/gateway.Dockerfile -t facegate-gateway .
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONUNBUFFERED=1 FACEGATE_HOST=0.0.0.0 FACEGATE_PORT=8080
# every package by version and hash (requirements/lock/gateway.txt, from requirements/gateway.txt
# by `make lock`): a rebuild gets the same files or fails
COPY requirements/lock/gateway.txt ./requirements/lock/gateway.txt
RUN pip install --no-cache-dir --require-hashes -r requirements/lock/gateway.txt
COPY pyproject.toml ./
COPY shared ./shared
COPY services ./services
COPY gateway ./gateway
COPY workers ./workers
RUN pip install --no-cache-dir --no-deps .
USER 65534
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/readyz', timeout=4)"
# uvicorn finishes requests in flight on SIGTERM before it exits
CMD ["python", "-m", "services.cli.main", "gateway"]
# What this image is (`docker inspect`). Declared last: a new version then rebuilds no layer
# above. compose.yaml passes FACEGATE_VERSION; a plain `docker build` gets pyproject.toml's
# version (tests/unit/test_release.py keeps the two equal). FACEGATE_SOURCE: the repository's
# address, which this project has not published yet (--build-arg FACEGATE_SOURCE=URL).
ARG FACEGATE_VERSION=0.1.0
ARG FACEGATE_SOURCE=
LABEL org.opencontainers.image.title="facegate-gateway" \
      org.opencontainers.image.description="facegate's HTTP gateway (no model weights)" \
      org.opencontainers.image.version="$FACEGATE_VERSION" \
      org.opencontainers.image.source="$FACEGATE_SOURCE" \
      org.opencontainers.image.licenses="Apache-2.0"
