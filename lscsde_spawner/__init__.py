"""lscsde-spawner: a JupyterHub spawner for analytics workspaces in secure data environments."""

from ._version import __version__

__all__ = ["__version__"]
