"""Container runtimes the simulated kubelet runs pods with: a stub, and local processes."""
