"""The demo: `make demo` (or `lscsde-spawner demo`) runs the whole thing on one machine.

One command, no Docker and no Kubernetes: it starts the embedded Kubernetes API with the
process runtime (each server is a real `jupyterhub-singleuser` process with JupyterLab, on its
own loopback address), installs the CRDs and the sample data, and starts JupyterHub with the
`WorkspaceSpawner` at http://127.0.0.1:8000. Log in as alice, bob, carol or dave, password
`demo`.

What each user sees on the spawn page (dates are relative to today, so they never go stale):
- alice: two workspaces, "Diabetes outcomes" (1 CPU, 2 GiB, shared with bob, with the
  "Hospital episodes" data source) and "Cardiac imaging" (2 CPU, 8 GiB, flagged as expiring
  soon, with both data sources). Not offered: "COVID-19 cohort (2023)" (her grant expired a
  week ago) and "Genomics (GPU)" (4 CPU, 16 GiB, a GPU, a toleration and a node selector; it
  opens in two weeks).
- bob: "Diabetes outcomes" only. Start it as alice and as bob: a file one saves in the
  `diabetes-outcomes` folder, the other sees.
- carol: no workspaces, a friendly message and no Start button.
- dave: "Cardiac imaging" only, through a claim binding: he is in the JupyterHub group
  `cardiac-team` and has no username binding; the card says "via group cardiac-team".

Inside a server: JupyterLab opens in the workspace's folder (`cardiac-imaging/`, the workspace
PVC); the data sources are read-only folders under `data/`; the `LSCSDE_*` environment
variables name the workspace, its last day and where its storage and data are mounted; the hub's
home page shows each running server's workspace and days left.

Where things live (all under `.demo/`, kept between runs, so everyone's files survive a restart;
delete `.demo/` to start afresh):
- `.demo/cluster/`: the cluster's journal and its kubeconfig (`export
  KUBECONFIG=.demo/cluster/kubeconfig`, then kubectl works);
- `.demo/cluster/volumes/pvc-<uid>/`: each PersistentVolumeClaim's files, e.g. the workspace
  folders users see in JupyterLab (`kubectl get pvc` shows which volume is which claim); the
  two data sources hold a few synthetic CSV files and are mounted read-only at
  `/home/jovyan/data/<name>` (the folder `data/<name>` in JupyterLab);
- `.demo/cluster/pods/`: each running server's own root directory (its `/home/jovyan`), gone
  when the server stops, as a pod's container filesystem is;
- `.demo/hub/`: JupyterHub's database, cookie secret and log (`jupyterhub.log`);
- `.demo/demo.log`: the cluster's own log.

Ctrl-C stops JupyterHub (which stops every running server) and then the cluster.
Options: `--port` (default 8000), `--data-dir` (default `.demo`), `--verbose` (the hub's log on
the terminal).
"""

from .runner import DemoError, DemoOptions, main

__all__ = ["DemoError", "DemoOptions", "main"]
