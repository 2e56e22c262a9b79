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
if [ -n "$standins" ]; then
  # compose.yaml pins its public images to exact tags; the stand-ins are built under the
  # looser ones (redis:7, pgvector/pgvector:pg17). A pinned tag that is missing gets the
  # stand-in of its repository; nothing is pulled or renamed where the real image is here.
  for image in $(docker compose config --images 2>/dev/null | grep -v '^facegate-' | sort -u); do
    docker image inspect "$image" >/dev/null 2>&1 && continue
    repo=${image%:*}
    standin=$(docker image ls --format '{{.Repository}}:{{.Tag}}' "$repo" | head -1)
    [ -n "$standin" ] && docker tag "$standin" "$image" \
      && echo "engine.sh: $image is the stand-in $standin"
  done
  # The official postgres entrypoint reads POSTGRES_PASSWORD_FILE (compose.yaml's secret);
  # where the look-alike's does not, it gets a wrapper that does the same.
  pg=$(docker compose config --images 2>/dev/null | grep '^pgvector/' | head -1)
  if [ -n "$pg" ] && ! docker run --rm --entrypoint grep "$pg" -q POSTGRES_PASSWORD_FILE \
       /usr/local/bin/docker-entrypoint.sh >/dev/null 2>&1; then
    echo "engine.sh: the $pg look-alike gets POSTGRES_PASSWORD_FILE"
    printf '%s\n' "FROM $pg" \
      'RUN mv /usr/local/bin/docker-entrypoint.sh /usr/local/bin/standin-entrypoint.sh \' \
      ' && printf "#!/bin/bash\nif [ -n \"\${POSTGRES_PASSWORD_FILE:-}\" ]; then export POSTGRES_PASSWORD=\"\$(cat \"\$POSTGRES_PASSWORD_FILE\")\"; unset POSTGRES_PASSWORD_FILE; fi\nexec /usr/local/bin/standin-entrypoint.sh \"\$@\"\n" > /usr/local/bin/docker-entrypoint.sh \' \
      ' && chmod +x /usr/local/bin/docker-entrypoint.sh' \
      | docker build -q -t "$pg" - >/dev/null
  fi
fi
docker version --format 'engine {{.Server.Version}}'; docker compose version
