"""An embedded Kubernetes API server and simulated kubelet, for tests, the demo and the CLI.

Nothing in the spawner depends on this package: production always talks to a real cluster.
"""

from kubesim.apiserver.faults import FaultRule, Faults, RequestLog
from kubesim.cluster import LocalCluster, kubeconfig_yaml
from kubesim.registry.errors import ApiError

__all__ = ["ApiError", "FaultRule", "Faults", "LocalCluster", "RequestLog", "kubeconfig_yaml"]
