# Settings of the local control plane, shared by up, down and the tests' helpers.
# Every value can be overridden from the environment, so two clusters can run
# side by side: give each its own VIREO_CLUSTER_DIR and VIREO_CLUSTER_PORT_BASE.
_repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# The Go toolchain go.mod names, fetched by the go command from the module
# proxy (the machine's own Go may be older; see the README).
export GOTOOLCHAIN=go$(sed -n 's/^go //p' "$_repo/go.mod")
CLUSTER_DIR=${VIREO_CLUSTER_DIR:-$_repo/.cluster}
CACHE_DIR=${VIREO_CACHE_DIR:-$_repo/.cache}
BIN_DIR=$CACHE_DIR/bin
PORT_BASE=${VIREO_CLUSTER_PORT_BASE:-16440}
ETCD_PORT=${VIREO_ETCD_PORT:-$((PORT_BASE + 0))}
ETCD_PEER_PORT=${VIREO_ETCD_PEER_PORT:-$((PORT_BASE + 1))}
APISERVER_PORT=${VIREO_APISERVER_PORT:-$((PORT_BASE + 2))}
CONTROLLER_MANAGER_PORT=${VIREO_CONTROLLER_MANAGER_PORT:-$((PORT_BASE + 3))}
SCHEDULER_PORT=${VIREO_SCHEDULER_PORT:-$((PORT_BASE + 4))}
KWOK_PORT=${VIREO_KWOK_PORT:-$((PORT_BASE + 5))}
# The address every component listens on, and the one the API server advertises.
BIND_ADDRESS=${VIREO_CLUSTER_BIND_ADDRESS:-127.0.0.1}
ADVERTISE_ADDRESS=${VIREO_CLUSTER_ADVERTISE_ADDRESS:-$BIND_ADDRESS}
NODES=${VIREO_CLUSTER_NODES:-2}
POD_CIDR=${VIREO_CLUSTER_POD_CIDR:-10.244.0.1/24}
NODE_IP=${VIREO_CLUSTER_NODE_IP:-10.245.0.1}
SERVICE_CIDR=${VIREO_CLUSTER_SERVICE_CIDR:-10.96.0.0/16}
KUBECONFIG_PATH=$CLUSTER_DIR/kubeconfig
# The daemons up starts, in start order; down stops them in reverse.
DAEMONS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)
