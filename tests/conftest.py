pytest_plugins = ["lscsde_spawner.testing"]
