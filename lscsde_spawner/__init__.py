"""lscsde-spawner: a JupyterHub spawner for analytics workspaces in secure data environments."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from .spawner import WorkspaceSpawner

__all__ = ["WorkspaceSpawner", "__version__"]


def __getattr__(name: str) -> Any:
    # Lazy: importing the package must not import JupyterHub and KubeSpawner.
    if name == "WorkspaceSpawner":
        from .spawner import WorkspaceSpawner

        return WorkspaceSpawner
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
