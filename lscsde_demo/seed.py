"""A few synthetic files in each data source's volume, so a mounted data source has content.

Written straight into the process runtime's volume directories (a PVC is a directory there);
existing files are never overwritten, so anything changed by hand survives a re-run.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from kubernetes_asyncio.client import CoreV1Api
from kubernetes_asyncio.client.api_client import ApiClient

from .sample import NAMESPACE

README = """# {title}

Synthetic sample data for the lscsde-spawner demo: no real patient is described here.
The spawner mounts this data source read-only at /home/jovyan/data/{name} (the folder
data/{name} in JupyterLab) in the workspaces it is bound to: open its files in place, and save
your results in the workspace's own folder.
"""

EPISODES = "episode_id,patient,admitted,discharged,primary_diagnosis\n" + "".join(
    f"E{i:04d},P{(i * 37) % 1000:04d},2023-{1 + i % 12:02d}-{1 + i % 27:02d},"
    f"2023-{1 + i % 12:02d}-{2 + i % 27:02d},{code}\n"
    for i, code in enumerate(["E11.9", "I21.4", "E10.9", "I50.0", "E11.6"] * 4)
)
REPORTS = "study_id,patient,ejection_fraction,finding\n" + "".join(
    f"S{i:04d},P{(i * 53) % 1000:04d},{45 + (i * 7) % 25},{finding}\n"
    for i, finding in enumerate(["normal", "mild LV dysfunction", "normal", "valve disease"] * 3)
)

FILES: dict[str, dict[str, str]] = {
    "hospital-episodes": {
        "README.md": README.format(title="Hospital episodes (extract)", name="hospital-episodes"),
        "episodes.csv": EPISODES,
    },
    "echocardiograms": {
        "README.md": README.format(title="Echocardiograms", name="echocardiograms"),
        "reports.csv": REPORTS,
    },
}


def seed_datasource(volume: Path, datasource: str) -> list[Path]:
    """Write the sample files of ``datasource`` into ``volume`` unless present; what was written."""
    written = []
    volume.mkdir(parents=True, exist_ok=True)
    for name, text in FILES.get(datasource, {}).items():
        path = volume / name
        if not path.exists():
            path.write_text(text)
            path.chmod(0o644)  # readable by the pods' user
            written.append(path)
    return written


async def seed_datasources(
    api: ApiClient, claims_dir: Path, claims: dict[str, str], *, within: float = 30.0
) -> int:
    """Seed each data source's volume (``claims``: data source -> PVC) once its claim is bound;
    how many files were written."""
    core = CoreV1Api(api)
    written = 0
    async with asyncio.timeout(within):
        for datasource, claim in claims.items():
            while True:  # the claim binds a moment after it is created
                pvc = await core.read_namespaced_persistent_volume_claim(claim, NAMESPACE)
                if pvc.spec.volume_name:
                    break
                await asyncio.sleep(0.1)
            written += len(seed_datasource(claims_dir / pvc.spec.volume_name, datasource))
    return written


__all__ = ["FILES", "seed_datasource", "seed_datasources"]
