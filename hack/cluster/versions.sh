# Pinned versions of the local control plane. Changing one rebuilds that binary.
K8S_VERSION=v1.35.4          # kube-apiserver, kube-controller-manager, kube-scheduler, kubectl
K8S_STAGING_VERSION=v0.35.4  # the k8s.io/<staging> modules matching K8S_VERSION
ETCD_VERSION=v3.6.5
KWOK_VERSION=v0.7.0
TRAEFIK_VERSION=v3.6.0       # the live stack's proxy (hack/live); newer versions do not build here
ARGO_ROLLOUTS_VERSION=v1.8.5 # Argo Rollouts' own controller, for the takeover tests (test/e2e/takeover_test.go)
KREW_VERSION=v0.4.3          # the krew plugin manifest's test: test/manifests
HELM_VERSION=v4.3.2          # the chart's tests (helm lint, template, install): test/manifests, test/e2e
GOVULNCHECK_VERSION=v1.9.0   # hack/vulncheck: govulncheck, built with Vireo's toolchain
VULNDB_VERSION=v0.0.0-20261105234957-e22db6528018 # hack/vulncheck: the golang.org/x/vulndb module (its data/osv), 2026-11-05
