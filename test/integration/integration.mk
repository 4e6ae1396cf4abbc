# The real-apiserver integration tier (see test/integration): kube-apiserver and etcd are
# built from the Go module proxy (no download of release binaries works here) into a
# git-ignored cache, then envtest runs them for the tests.
#
#   make k8s-bins          build kube-apiserver and etcd if missing or their tools module changed
#                          (cold, 2 cores: ~8-10 min for kube-apiserver, ~2 min for etcd)
#   make integration-test  build them if needed, then run the tests (~15 s, +~1 min cold compile)
#
# Include it from the root Makefile (include test/integration/integration.mk), or run it
# alone: make -f test/integration/integration.mk integration-test.
# CI: cache test/integration/.cache/k8s-bin keyed on test/integration/tools/*/go.sum.

export GOTOOLCHAIN := local
GO ?= go

INTEGRATION_DIR := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
K8S_BIN_DIR     := $(INTEGRATION_DIR)/.cache/k8s-bin
KUBE_APISERVER  := $(K8S_BIN_DIR)/kube-apiserver
ETCD            := $(K8S_BIN_DIR)/etcd

# Must match tools/apiserver/go.mod: the apiserver reports it at /version.
KUBE_APISERVER_VERSION := v1.34.4
KUBE_VERSION_PKG       := k8s.io/component-base/version
KUBE_APISERVER_LDFLAGS := -s -w \
	-X $(KUBE_VERSION_PKG).gitVersion=$(KUBE_APISERVER_VERSION) \
	-X $(KUBE_VERSION_PKG).gitMajor=1 \
	-X $(KUBE_VERSION_PKG).gitMinor=34 \
	-X $(KUBE_VERSION_PKG).gitTreeState=clean

.PHONY: k8s-bins integration-test

## k8s-bins: kube-apiserver and etcd for the integration tier, in test/integration/.cache/k8s-bin
k8s-bins: $(KUBE_APISERVER) $(ETCD)

$(KUBE_APISERVER): $(INTEGRATION_DIR)/tools/apiserver/go.mod $(INTEGRATION_DIR)/tools/apiserver/go.sum
	@mkdir -p $(K8S_BIN_DIR)
	$(GO) build -C $(INTEGRATION_DIR)/tools/apiserver -ldflags '$(KUBE_APISERVER_LDFLAGS)' \
		-o $@ k8s.io/kubernetes/cmd/kube-apiserver

$(ETCD): $(INTEGRATION_DIR)/tools/etcd/go.mod $(INTEGRATION_DIR)/tools/etcd/go.sum
	@mkdir -p $(K8S_BIN_DIR)
	$(GO) build -C $(INTEGRATION_DIR)/tools/etcd -ldflags '-s -w' -o $@ go.etcd.io/etcd/server/v3

## integration-test: the inventory's informers and the fixtures against a real kube-apiserver
integration-test: k8s-bins
	cd $(INTEGRATION_DIR) && $(GO) vet ./...
	cd $(INTEGRATION_DIR) && KUBEBUILDER_ASSETS=$(K8S_BIN_DIR) $(GO) test -count=1 ./...
