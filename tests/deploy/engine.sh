#!/usr/bin/env bash
# What `make deploy-test` needs before the test: a Docker engine with Compose v2, and the
# public base images compose.yaml and the Dockerfiles name. `engine.sh --stop` afterwards stops
# the engine if this script started it (and nothing else).
# - The team's stand-in script (FACEGATE_STANDINS, else ../shared/tools/container-standins.sh
#   beside the checkout or /work/shared/tools/...) sets up the engine on a machine without one
#   and builds look-alikes of the base images where no registry can be reached. Elsewhere
#   Docker pulls the real images and this only checks that Compose answers.
# - The Flower look-alike installs today's kombu without its `redis` extra, whose Redis
#   transport then fails to import (no `packaging`): where `import kombu.transport.redis`
#   fails in it, the look-alike gets that one package. compose.yaml is never changed for a
#   look-alike.
set -euo pipefail
cd "$(dirname "$0")/../.."
marker=.cache/deploy-test/dockerd-started
if [ "${1:-}" = --stop ]; then
  if [ -f "$marker" ]; then
    pid=$(cat "$marker"); rm -f "$marker"
    kill "$pid" 2>/dev/null && echo "engine.sh: stopped the Docker engine it had started ($pid)"
  fi
  exit 0
fi
mkdir -p .cache/deploy-test
answering=$(docker info >/dev/null 2>&1 && echo yes || echo no)
standins=${FACEGATE_STANDINS:-}
for candidate in ../shared/tools/container-standins.sh /work/shared/tools/container-standins.sh; do
  [ -n "$standins" ] || { [ -x "$candidate" ] && standins=$candidate; } || true
done
if [ -n "$standins" ]; then
  bash "$standins" >/dev/null
  if [ "$answering" = no ] && [ -f /tmp/dockerd.pid ]; then cp /tmp/dockerd.pid "$marker"; fi
fi
docker compose version >/dev/null || { echo "deploy-test needs Docker with Compose v2"; exit 1; }
if docker image inspect mher/flower:2.0 >/dev/null 2>&1 &&
   ! docker run --rm mher/flower:2.0 python -c "import kombu.transport.redis" >/dev/null 2>&1; then
  echo "engine.sh: the mher/flower:2.0 look-alike cannot import kombu's Redis transport; adding packaging"
  printf 'FROM mher/flower:2.0\nUSER root\nRUN pip install --no-cache-dir packaging\nUSER flower\n' \
    | docker build -q -t mher/flower:2.0 - >/dev/null
fi
docker version --format 'engine {{.Server.Version}}'; docker compose version
