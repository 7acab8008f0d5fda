# The demo hub's config file (`jupyterhub -f`); the settings are in hubconfig.py.
from lscsde_demo.hubconfig import configure

configure(get_config())  # type: ignore[name-defined]  # noqa: F821
