# Settings of the live stack (hack/live/up): a local control plane, a pod
# runner, Traefik, Prometheus, Vireo's controller and a load generator, all in
# one network namespace, with a few ports forwarded to the host's loopback.
# Every value can be overridden from the environment.
_live_repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LIVE_DIR=${VIREO_LIVE_DIR:-$_live_repo/.live}
LIVE_NETNS=${VIREO_LIVE_NETNS:-vireo-live}
# The host's loopback ports: the demo page (Traefik's web entry point), the
# Traefik API, Prometheus, Vireo's dashboard and the API server.
LIVE_PORT_BASE=${VIREO_LIVE_PORT_BASE:-18080}
LIVE_WEB_PORT=$((LIVE_PORT_BASE + 0))
LIVE_TRAEFIK_PORT=$((LIVE_PORT_BASE + 1))
LIVE_PROMETHEUS_PORT=$((LIVE_PORT_BASE + 10))
LIVE_DASHBOARD_PORT=$((LIVE_PORT_BASE + 20))
LIVE_APISERVER_PORT=$((LIVE_PORT_BASE + 30))
# The load generator's rate and bounds.
LIVE_LOAD_RATE=${VIREO_LIVE_LOAD_RATE:-100}
LIVE_LOAD_DURATION=${VIREO_LIVE_LOAD_DURATION:-1h}
LIVE_LOAD_MAX=${VIREO_LIVE_LOAD_MAX:-400000}
# Inside the namespace: the control plane keeps hack/cluster's ports (the
# namespace has its own loopback), Traefik serves on 80 (entry point web) and
# 8080 (its API, dashboard and metrics), Prometheus on 9090.
LIVE_ADVERTISE_ADDRESS=10.250.0.1
LIVE_KUBECONFIG=$LIVE_DIR/kubeconfig # for the host, through the forwarded port
export VIREO_CLUSTER_DIR=$LIVE_DIR/cluster
export VIREO_CLUSTER_ADVERTISE_ADDRESS=$LIVE_ADVERTISE_ADDRESS
export VIREO_KWOK_GATED_IMAGES='(^|/)vireo-demo:'
