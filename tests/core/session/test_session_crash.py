"""Kill -9 in the middle of an edit: the next start restores every completed edit, bit-exact."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ip2p_core.session import EditSession, list_recoverable_sessions

from .conftest import image_digest as digest

REPO_ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
@pytest.mark.parametrize("moment", ["during_edit", "during_write"])
def test_sigkill_during_third_edit_restores_the_two_completed_ones(tiny_model_dir, photos_dir, tmp_path, moment):
    root = tmp_path / "sessions"
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    stderr_path = tmp_path / "worker.err"
    with open(stderr_path, "w") as stderr:
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.core.session.crash_worker", str(tiny_model_dir), str(root),
             str(photos_dir / "chelsea.png"), moment],
            cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True,
        )
        events = []
        try:
            for line in child.stdout:
                events.append(json.loads(line))
                if events[-1]["event"].startswith("third-"):
                    break
            assert events and events[-1]["event"].startswith("third-"), stderr_path.read_text()
            assert list_recoverable_sessions(root) == []  # the running app holds its session
            os.kill(child.pid, signal.SIGKILL)
            child.wait(timeout=60)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
            child.stdout.close()
    assert child.returncode == -signal.SIGKILL

    created = events[0]
    edits = [e for e in events if e["event"] == "edit"]
    folder = Path(created["folder"])
    if moment == "during_write":
        assert len(list((folder / "nodes").glob("*.png"))) == 3  # the third image made it to disk

    found = list_recoverable_sessions(root)
    assert [f.folder for f in found] == [folder]
    assert found[0].n_edits == 2 and found[0].source_name == "chelsea.png" and found[0].unsaved_changes

    session = EditSession.recover(folder)
    try:
        assert session.open_warnings == []
        assert [n.id for n in session.nodes()] == [session.root_id] + [e["node"] for e in edits]
        assert digest(session.image(session.root_id)) == created["original"]
        for event in edits:
            assert digest(session.image(event["node"])) == event["pixels"]
            assert session.node(event["node"]).params.to_dict() == event["params"]
        assert session.cursor == edits[-1]["node"]
        # The half-recorded third edit is simply absent, its file gone, and no temp file is left.
        assert len(list((folder / "nodes").glob("*.png"))) == 2
        assert not [p for p in folder.rglob("*") if ".tmp" in p.name]
        assert list_recoverable_sessions(root) == []  # now held by us
    finally:
        session.close()
    assert not folder.exists()
