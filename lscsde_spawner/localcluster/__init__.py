"""An embedded Kubernetes API server and simulated kubelet, for tests, the demo and the CLI.

Nothing in the spawner depends on this package: production always talks to a real cluster.
"""

from .cluster import LocalCluster, kubeconfig_yaml
from .errors import ApiError
from .faults import FaultRule, Faults, RequestLog

__all__ = ["ApiError", "FaultRule", "Faults", "LocalCluster", "RequestLog", "kubeconfig_yaml"]
