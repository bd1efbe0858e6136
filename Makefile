# Vireo: progressive delivery for Kubernetes.
SHELL := /bin/bash
.DEFAULT_GOAL := build

# The Go toolchain is the one go.mod names (its security fixes are why):
# the go command fetches it from the module proxy once. A machine's own Go
# with GOTOOLCHAIN=local would refuse this module.
export GOTOOLCHAIN := go$(shell sed -n 's/^go //p' go.mod)

CONTROLLER_GEN := go run sigs.k8s.io/controller-tools/cmd/controller-gen@v0.20.1
CRD_DIR := config/crd/bases
GO_TEST_FLAGS ?=

.PHONY: bench-chaos bench-scale image image-loadtester krew build web generate verify-generated fmt vet test unit-test integration-test e2e-test bench bench-live demo demo-flagger demo-quick live-up live-down cluster-up cluster-down clean

build: ## bin/vireo-controller, bin/kubectl-vireo, bin/vireo-demo and bin/vireo-loadtester
	go build -o bin/vireo-controller ./cmd/vireo-controller
	go build -o bin/kubectl-vireo ./cmd/kubectl-vireo
	go build -o bin/vireo-demo ./cmd/vireo-demo
	go build -o bin/vireo-loadtester ./cmd/vireo-loadtester

web: ## the dashboard's page: web/ built into internal/dashboard/assets (committed)
	cd web && npm ci --no-audit --no-fund --loglevel=error && npm run build

generate: ## deepcopy code and CRD manifests from api/
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./api/...
	rm -f $(CRD_DIR)/*.yaml
	$(CONTROLLER_GEN) crd:generateEmbeddedObjectMeta=true,allowDangerousTypes=true paths=./api/... output:crd:dir=$(CRD_DIR)
	go run ./hack/crdpatch $(CRD_DIR)/*.yaml
	rm -f charts/vireo/crds/*.yaml && cp $(CRD_DIR)/*.yaml charts/vireo/crds/

verify-generated: ## fails when generated files differ from what the types produce
	@hack/verify-generated

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	go vet ./...

test: ## every test: generated files, unit, integration against a real control plane, e2e
	@hack/test

BENCH_ROLLOUTS ?= 200
BENCH_ANALYSIS ?= 50
BENCH_ABORT ?= 40
BENCH_SCHEDULE ?= 10m

bench: ## micro-benchmarks, then the rollout benchmark on the local control plane
	go test -run '^$$' -bench . -benchmem ./internal/... ./api/...
	hack/cluster/build
	VIREO_REQUIRE_CLUSTER=1 go test -count=1 -timeout 60m -run '^TestBenchRollouts$$' -v ./test/e2e/ -args -bench-rollouts=$(BENCH_ROLLOUTS) | grep -v '^{'
	VIREO_REQUIRE_CLUSTER=1 go test -count=1 -timeout 60m -run '^TestBenchRollouts$$' -v ./test/e2e/ -args -bench-rollouts=$(BENCH_ROLLOUTS) -bench-notify | grep -v '^{'
	VIREO_REQUIRE_CLUSTER=1 go test -count=1 -timeout 60m -run '^TestBenchAnalysis$$' -v ./test/e2e/ -args -bench-analysis=$(BENCH_ANALYSIS) -bench-schedule=$(BENCH_SCHEDULE) | grep -v '^{'
	VIREO_REQUIRE_CLUSTER=1 go test -count=1 -timeout 30m -run '^TestBenchAbortToWeightZero$$' -v ./test/e2e/ -args -bench-abort=$(BENCH_ABORT) | grep -v '^{'


bench-scale: ## the scale profiles: 1,000 and 10,000 rollouts of 1 replica; then 3 replicas with --shards 3 sharing 1,000, one killed mid-update
	hack/cluster/build
	VIREO_REQUIRE_CLUSTER=1 go test -count=1 -timeout 90m -run '^TestBenchRollouts$$' -v ./test/e2e/ -args -bench-rollouts=1000 -bench-replicas=1 | grep -v '^{'
	VIREO_REQUIRE_CLUSTER=1 VIREO_CLUSTER_NODES=24 go test -count=1 -timeout 300m -run '^TestBenchRollouts$$' -v ./test/e2e/ -args -bench-rollouts=10000 -bench-replicas=1 | grep -v '^{'
	VIREO_REQUIRE_CLUSTER=1 VIREO_CLUSTER_NODES=8 go test -count=1 -timeout 90m -run '^TestShardsFailover$$' -v ./test/e2e/ -args -shard-rollouts=1000 | grep -v -E '^\s*[{IE]'

bench-chaos: ## the chaos suite at full size: 50 rollouts through each fault, 100 controller SIGKILLs; prints the recovery table
	hack/cluster/build
	VIREO_REQUIRE_CLUSTER=1 go test -count=1 -timeout 90m -run '^TestChaosFaults$$' -v ./test/e2e/ -args -chaos-rollouts=50 -chaos-kills=100 | grep -E '^\s*\||^(--- |ok|FAIL)'

image: ## the controller's OCI image (VERSION=v0.1.0), without a container engine: dist/image/oci and dist/image/vireo-controller.tar
	go run ./hack/image -version $(or $(VERSION),dev) -out dist/image

image-loadtester: ## the loadtester's OCI image (hey, curl, bash, kubectl, helm beside it): dist/image-loadtester
	@hack/cluster/build && hack/cluster/build helm
	go run ./hack/image -name vireo-loadtester -version $(or $(VERSION),dev) -out dist/image-loadtester

krew: ## the krew plugin manifest and archives of kubectl-vireo (VERSION=v0.1.0), in dist/krew
	go run ./hack/krew -version $(or $(VERSION),v0.1.0) -out dist/krew

bench-live: ## seed 000's story at full length through both routers, and the judge against the threshold analysis (20 healthy promotions), with real requests; prints tables
	@hack/cluster/build && hack/cluster/build traefik
	@set -o pipefail; VIREO_REQUIRE_CLUSTER=1 VIREO_JUDGE_LIVE_TABLE=$(CURDIR)/.cache/judge-live.md VIREO_JUDGE_HEALTHY_RUNS=20 \
	  go test -count=1 -timeout 90m -run '^(TestBenchLive|TestLiveJudgeAgainstThreshold|TestLiveJudgeHealthyPromotions)$$' -v ./test/live/ -args -bench-live \
	  | grep -v -E '^(=== RUN|--- (PASS|SKIP)|PASS$$|ok[[:space:]])'

demo: ## seed 000 live: the live stack, a healthy promotion, then a bad canary rolled back; stays up until Ctrl-C
	@hack/demo

demo-flagger: ## seed 003 live: a Flagger Canary through Traefik, a healthy release, then a bad one rolled back; stays up until Ctrl-C
	@hack/demo-flagger

demo-quick: ## the local control plane without a data plane: a sample Rollout promoted, simulate, lint
	@hack/demo-quick

live-up: ## the live stack (root): control plane, pod runner, Traefik, Prometheus, Vireo, load, in a network namespace
	@hack/live/up

live-down:
	@hack/live/down

cluster-up:
	@hack/cluster/up

cluster-down:
	@hack/cluster/down

clean:
	rm -rf bin
