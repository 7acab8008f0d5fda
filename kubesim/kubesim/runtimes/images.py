"""What the process runtime knows of a few images it cannot pull: their default process and user.

The runtime pulls no images, so it cannot know an image's entrypoint; a container with neither
`command` nor `args` fails to start (StartError), except for the images listed here, which a
small stand-in plays as the image's default configuration would: `nginx`, its welcome page on
port 80 (nginx_standin.py). Nor can it read an image's USER: a container without runAsUser runs
as root, except in the Jupyter images (docker-stacks and JupyterHub's singleuser), whose USER is
jovyan, 1000:100 (jupyter_server refuses to run as root).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from kubesim.runtimes import nginx_standin

NGINX = Path(nginx_standin.__file__)


def image_name(image: str) -> str:
    """The repository's last part: `docker.io/library/nginx:1.27@sha256:...` is `nginx`."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[0]


JUPYTER_IMAGES = frozenset({
    "singleuser", "k8s-singleuser-sample", "docker-stacks-foundation", "base-notebook",
    "minimal-notebook", "scipy-notebook", "r-notebook", "julia-notebook", "tensorflow-notebook",
    "pytorch-notebook", "datascience-notebook", "pyspark-notebook", "all-spark-notebook",
})  # fmt: skip
JOVYAN = (1000, 100)


def image_user(image: str) -> tuple[int, int] | None:
    """The uid and gid an image's USER names, if known."""
    return JOVYAN if image_name(image) in JUPYTER_IMAGES else None


@dataclass(frozen=True)
class StandIn:
    """A stand-in's command, and the port it serves once up (nginx is up in milliseconds; a
    Python stand-in takes longer, which the runtime waits out before calling it started)."""

    argv: list[str]
    port: int


def default_process(image: str, pod_ip: str) -> StandIn | None:
    """A stand-in for the image's default process, if there is one."""
    if image_name(image) == "nginx":
        return StandIn([sys.executable, "-I", str(NGINX), pod_ip, "80"], 80)
    return None


__all__ = ["StandIn", "default_process", "image_name", "image_user"]
