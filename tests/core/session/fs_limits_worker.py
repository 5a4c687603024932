"""Run inside ``unshare -rm`` (a private mount namespace): save projects to a really full and a
really read-only filesystem and report, as one JSON line, what happened. Used by
test_session_save_errors.py; not a test module itself.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

from ip2p_core.errors import ImageSaveError
from ip2p_core.params import EditParams, EditResult
from ip2p_core.session import EditSession

from tests.core.session.conftest import noise_image


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def result(seed: int, size: tuple[int, int]) -> EditResult:
    return EditResult(noise_image(seed, size), noise_image(seed, (64, 64)), EditParams(f"edit {seed}", seed=seed), "m")


def scenario(mount: Path, sessions: Path, mode: str) -> dict:
    size = "1m" if mode == "full" else "8m"
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)], check=True)
    session = EditSession.create(noise_image(0, (64, 64)), root=sessions)
    node = session.add_result(session.root_id, result(1, (64, 64)))
    project = mount / "p.ip2p"
    session.save_project(project)
    saved_digest = digest(project)
    if mode == "full":
        for seed in (2, 3, 4):  # ~0.5 MB of incompressible pixels each: more than the 1 MB disk holds
            node = session.add_result(node.id, result(seed, (400, 400)))
    else:
        node = session.add_result(node.id, result(2, (64, 64)))
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
    report: dict = {"error": None}
    try:
        session.save_project(project)
    except ImageSaveError as exc:
        report["error"] = str(exc)
    report["previous_intact"] = digest(project) == saved_digest
    report["files_in_target"] = sorted(p.name for p in mount.iterdir())
    report["n_nodes"] = len(session.nodes())
    report["images_readable"] = all(session.image(n.id).size[0] > 0 for n in session.nodes())
    report["dirty"] = session.dirty
    report["autosave_exists"] = session.folder.is_dir()
    elsewhere = sessions.parent / "elsewhere.ip2p"
    session.save_project(elsewhere)
    reopened = EditSession.open_project(elsewhere, root=sessions)
    report["elsewhere_nodes"] = len(reopened.nodes())
    reopened.close()
    session.close()
    return report


if __name__ == "__main__":
    print(json.dumps(scenario(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3])))
