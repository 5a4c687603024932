"""Child process for test_session_crash.py: two edits with the tiny model, then a third that
never finishes (it hangs until the test kills the process with SIGKILL). Reports each step as a
JSON line on stdout. Not a test module itself.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from PIL import Image

from ip2p_core.engine import EditEngine
from ip2p_core.params import EditParams
from ip2p_core.session import EditSession
from ip2p_core.session import store as store_module

from tests.core.session.conftest import image_digest as digest


def emit(**fields) -> None:
    print(json.dumps(fields), flush=True)


def main(model_dir: str, root: str, photo_path: str, moment: str) -> None:
    engine = EditEngine.load(model_dir, device="cpu", dtype="fp32")
    photo = Image.open(photo_path).convert("RGB")
    session = EditSession.create(photo, source_path=Path(photo_path), root=Path(root))
    emit(event="created", folder=str(session.folder), original=digest(photo))
    parent, current = session.root_id, photo
    for seed, instruction in ((11, "make it winter"), (12, "add snow")):
        result = engine.edit(current, EditParams(instruction, steps=2, resolution=64, seed=seed))
        node = session.add_result(parent, result, weights_hash=engine.describe().weights_hash)
        emit(event="edit", node=node.id, pixels=digest(result.image), params=result.params.to_dict())
        parent, current = node.id, result.image

    if moment == "during_edit":
        def hang(progress) -> None:
            emit(event="third-running")
            time.sleep(600)

        engine.edit(current, EditParams("turn the car red", steps=5, resolution=64, seed=13), progress=hang)
    else:
        # Killed after the third image is on disk but before the manifest mentions it.
        result = engine.edit(current, EditParams("turn the car red", steps=2, resolution=64, seed=13))

        def stall(self, data) -> None:
            emit(event="third-writing")
            time.sleep(600)

        store_module.SessionStore.write_manifest = stall
        session.add_result(parent, result)
    emit(event="not-killed")


if __name__ == "__main__":
    main(*sys.argv[1:5])
