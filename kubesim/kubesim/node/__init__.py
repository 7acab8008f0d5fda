"""The simulated node: scheduler, kubelet and PVC binder, writing through the API."""
