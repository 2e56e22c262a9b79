#!/bin/sh
# Installs torch (and whatever else is named) from one package index, falling back to PyPI.
#
#   deploy/install-torch.sh PYTHON INDEX_URL REQUIREMENT...
#
# The one rule for which torch build a host gets, used by `make run` / `make test` (Makefile)
# and by the worker image (deploy/worker.Dockerfile):
# - INDEX_URL is PyTorch's own CPU index (https://download.pytorch.org/whl/cpu) on a CPU host:
#   its Linux wheels are CPU-only, about 200 MB, where PyPI's Linux torch is the CUDA build
#   that pulls several GB of NVIDIA libraries.
# - When INDEX_URL cannot be reached (an offline mirror that has only PyPI, or a closed
#   network), PyPI is used instead: a host that reaches only PyPI still installs, with the
#   bigger CUDA build. The script says which it used.
# - An empty INDEX_URL means PyPI (what a CUDA host wants: torch and torchvision as a pair).
set -eu
python=$1 index=$2
shift 2
if [ -n "$index" ]; then
  # torch's page on the index answers within 15 s: PyTorch's indexes serve the dependencies
  # too, so the whole install then comes from there (as PyTorch's install guide does it).
  if "$python" -c 'import sys, urllib.request
urllib.request.urlopen(sys.argv[1].rstrip("/") + "/torch/", timeout=15).read(1)' "$index" \
       2>/dev/null; then
    echo "install-torch: $* from $index"
    case $index in  # a plain-http mirror on the local network: the one named is trusted
      http://*) host=${index#http://}; host=${host%%/*}; host=${host%%:*}
                set -- --trusted-host "$host" "$@" ;;
    esac
    exec "$python" -m pip install --no-cache-dir --index-url "$index" "$@"
  fi
  echo "install-torch: $index cannot be reached; $* from PyPI instead"
fi
exec "$python" -m pip install --no-cache-dir "$@"
