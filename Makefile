# jetrun — build, test, demo, bench. `make help` lists the targets.

GO       ?= go
BIN      ?= bin
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
# Test binaries (the worker and dispatcher that tests run as real
# processes) are built once per run, with -race, outside the checkout.
TESTBIN  ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/jetrun/testbin
PKGS     := ./...

.PHONY: help build test test-short k8s-test k8s-harness check demo bench image clean

help:
	@echo "make build   static binaries in $(BIN)/ (dispatcher, worker, submit)"
	@echo "make test    gofmt, vet and the whole test suite with -race (what CI runs)"
	@echo "make k8s-test  only the Kubernetes tests, against the real API server harness"
	@echo "make demo    the main job end to end on embedded defaults"
	@echo "make bench   throughput and latency benchmarks (figures, not pass/fail)"
	@echo "make image   the worker and dispatcher images (FROM scratch, built offline)"

# The dispatcher and submit are pure Go. The worker links the tree-sitter
# grammars (C, through cgo) statically, so it is still one self-contained
# binary that runs FROM scratch; with CGO_ENABLED=0 it builds too, and
# chunks those languages with the line packer instead.
WORKER_LDFLAGS := $(LDFLAGS) -linkmode external -extldflags -static

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/dispatcher ./cmd/submit
	CGO_ENABLED=1 $(GO) build -trimpath -tags netgo,osusergo -ldflags '$(WORKER_LDFLAGS)' -o $(BIN)/ ./cmd/worker

check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	@if command -v docker-compose >/dev/null; then docker-compose -f docker-compose.yml config -q && echo "docker-compose.yml: valid"; \
	  elif docker compose version >/dev/null 2>&1; then docker compose -f docker-compose.yml config -q && echo "docker-compose.yml: valid"; \
	  else echo "docker-compose.yml: not validated (no compose tool)"; fi

# The Kubernetes tests run against a real kube-apiserver, etcd and
# kube-controller-manager built from source by scripts/k8s-harness.sh and
# cached outside the checkout (6–8 min on an empty cache, seconds after).
test: check
	@mkdir -p $(TESTBIN)
	$(GO) build -race -o $(TESTBIN)/ ./cmd/worker ./cmd/dispatcher
	assets=$$(./scripts/k8s-harness.sh) && \
	  KUBEBUILDER_ASSETS=$$assets JETRUN_TEST_BIN_DIR=$(TESTBIN) $(GO) test -race -count=1 -timeout 30m $(PKGS)

k8s-harness:
	./scripts/k8s-harness.sh

k8s-test:
	assets=$$(./scripts/k8s-harness.sh) && \
	  KUBEBUILDER_ASSETS=$$assets $(GO) test -race -count=1 -timeout 20m ./pkg/runtimes/kubernetes/ ./deployments/kubernetes/

test-short:
	$(GO) test -count=1 $(PKGS)

demo: build
	./scripts/demo.sh $(BIN)

bench: build
	$(GO) test -run XXX -bench . -benchtime 1x -timeout 30m ./pkg/dispatch/
	$(GO) test -run XXX -bench . -benchtime 1x -timeout 30m ./pkg/qdrantlite/
	$(GO) test -run XXX -bench APICalls -benchtime 1x -timeout 30m ./pkg/runtimes/awsbatch/

# Images: static binaries in a build context outside the checkout, then
# FROM scratch images; nothing is pulled.
IMAGE_CTX ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/jetrun/image-context
IMAGE_TAG ?= latest

image: build
	rm -rf $(IMAGE_CTX) && mkdir -p $(IMAGE_CTX)/work
	cp $(BIN)/worker $(BIN)/dispatcher $(BIN)/submit $(IMAGE_CTX)/
	cp /etc/ssl/certs/ca-certificates.crt $(IMAGE_CTX)/
	printf 'root:x:0:0:root:/:/sbin/nologin\njetrun:x:65532:65532:jetrun:/work:/sbin/nologin\n' > $(IMAGE_CTX)/passwd
	printf 'root:x:0:\njetrun:x:65532:\n' > $(IMAGE_CTX)/group
	docker build -q -f deployments/docker/Dockerfile --target worker -t jetrun/worker:$(IMAGE_TAG) $(IMAGE_CTX)
	docker build -q -f deployments/docker/Dockerfile --target dispatcher -t jetrun/dispatcher:$(IMAGE_TAG) $(IMAGE_CTX)

clean:
	rm -rf $(BIN) .data
