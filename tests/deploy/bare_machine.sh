#!/usr/bin/env bash
# The README's first commands on a bare machine: a plain Debian container given only Python,
# git and make (no Node, no npm, nothing of this host's), a clone of this checkout's HEAD, then
#   make run          (in the background) until the gateway answers,
#   facegate ingest   of a folder of photos, in more than one body (--max-body),
#   make test         with PYTEST_ADDOPTS narrowing the suite when given (the whole suite
#                     takes about 15 minutes more).
# Usage: tests/deploy/bare_machine.sh PHOTO_DIR [IMAGE]   (IMAGE: debian:bookworm by default;
# where no registry is reachable, tests/deploy/engine.sh's stand-ins give local/debian:bookworm)
# Needs Docker and the package registries (PyPI, Debian, npm); it starts one container and
# removes it at the end.
set -euo pipefail
photos=$(realpath "${1:?a folder of photos}")
image=${2:-debian:bookworm}
cd "$(dirname "$0")/../.."
clone=$(mktemp -d)
trap 'rm -rf "$clone"' EXIT
git clone -q --no-local . "$clone/facegate"
name=facegate-bare-$$
# A host whose HTTPS passes an intercepting proxy (as in this team's sandboxes) hands its extra
# CA certificates on, as the stand-in images do; a user's machine needs nothing of the kind.
trust=()
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  bundle=/etc/ssl/certs/ca-certificates.crt
  trust=(-v /usr/local/share/ca-certificates:/usr/local/share/ca-certificates:ro
         -e PIP_CERT=$bundle -e SSL_CERT_FILE=$bundle -e REQUESTS_CA_BUNDLE=$bundle)
fi
docker run --rm --name "$name" -v "$clone/facegate:/src:ro" -v "$photos:/photos:ro" \
  "${trust[@]}" -e PYTEST_ADDOPTS="${PYTEST_ADDOPTS:-}" "$image" bash -euo pipefail -c '
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq python3 python3-venv git make ca-certificates \
      >/dev/null
    update-ca-certificates >/dev/null
    ! command -v node && ! command -v npm
    echo "== $(python3 --version), $(git --version), $(make --version | head -1)"
    git clone -q /src /app && cd /app
    start=$(date +%s)
    make run > /tmp/run.log 2>&1 &
    run_pid=$!
    until grep -q "facegate listening" /tmp/run.log; do
      if ! kill -0 $run_pid 2>/dev/null; then tail -40 /tmp/run.log; exit 1; fi
      sleep 5
    done
    echo "== make run: listening after $(( $(date +%s) - start )) s"
    grep -E "^(redis|postgres|workers|facegate listening)" /tmp/run.log
    eval "$(sed -n "s/^development app dev: app_id=\([^ ]*\) app_secret=\([^ ]*\).*/export FACEGATE_APP_ID=\1 FACEGATE_APP_SECRET=\2/p" /tmp/run.log)"
    start=$(date +%s)
    .venv/bin/facegate ingest /photos --group bare --create --max-body 20MB 2>&1 \
      | tr "\r" "\n" | grep -v "^upload: *[0-9]*%\|^enrol: *[0-9]*%" || true
    echo "== facegate ingest: $(( $(date +%s) - start )) s"
    kill -INT $run_pid  # Ctrl-C: make passes it on, and facegate stops what it started
    wait $run_pid || true
    start=$(date +%s)
    make test 2>&1 | tail -15
    echo "== make test: $(( $(date +%s) - start )) s"
  '
