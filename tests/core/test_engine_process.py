"""The engine in a child process: same pictures, progress, cancel and errors as in this process,
and no child left behind when it crashes, is closed, or its parent goes away."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest
from PIL import Image

from ip2p_core.cancel import CancelToken
from ip2p_core.engine_process import EngineProcess, EngineProcessError
from ip2p_core.errors import EditCancelled, InvalidParameterError, ModelLoadError
from ip2p_core.params import EditParams

from ..conftest import PHOTOS
from ..processes import live_children, pid_exited


def _photo() -> Image.Image:
    return Image.open(PHOTOS / "chelsea.png").convert("RGB")


def _params(**changes) -> EditParams:
    values = dict(instruction="make it winter", steps=3, resolution=64, seed=11)
    values.update(changes)
    return EditParams(**values)


@pytest.fixture(scope="module")
def remote(tiny_model_dir):
    stages: list[tuple[str, float]] = []
    engine = EngineProcess.start(str(tiny_model_dir), device="cpu", dtype="fp32",
                                 progress=lambda stage, fraction: stages.append((stage, fraction)))
    engine.load_stages = stages  # type: ignore[attr-defined]
    yield engine
    engine.close()


def test_loads_with_progress_and_describes_the_same_model(remote, tiny_engine) -> None:
    assert remote.alive
    assert remote.load_stages[-1] == ("ready", 1.0)
    fractions = [fraction for _, fraction in remote.load_stages]
    assert fractions == sorted(fractions)
    assert remote.describe() == tiny_engine.describe()
    assert remote.pid != os.getpid()


def test_edit_matches_the_engine_in_this_process(remote, tiny_engine) -> None:
    steps = []
    result = remote.edit(_photo(), _params(), progress=steps.append)
    local = tiny_engine.edit(_photo(), _params())
    assert [s.step for s in steps] == [1, 2, 3]
    assert all(s.preview is not None and s.total == 3 for s in steps)
    assert result.image.size == local.image.size == (451, 300)
    assert np.array_equal(np.asarray(result.image), np.asarray(local.image))
    assert result.params == local.params
    assert result.timings["total"] > 0
    usage = remote.memory_in_use()
    assert usage["ram_rss"] > 100 * 2**20  # both processes; the child holds torch and the model


def test_cancel_stops_the_edit_and_the_engine_keeps_serving(remote) -> None:
    token = CancelToken()
    seen = []

    def cancel_after_first(step) -> None:
        seen.append(step.step)
        token.cancel()

    with pytest.raises(EditCancelled):
        remote.edit(_photo(), _params(steps=40), progress=cancel_after_first, cancel=token)
    assert seen and max(seen) < 40
    assert remote.alive
    assert remote.edit(_photo(), _params(steps=1)).image.size == (451, 300)


def test_bad_parameters_raise_the_engines_error(remote) -> None:
    with pytest.raises(InvalidParameterError, match="Steps"):
        remote.edit(_photo(), _params(steps=0))
    assert remote.alive


def test_a_bad_model_source_fails_with_the_loaders_message(tmp_path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        EngineProcess.start(str(tmp_path / "no-such-model"), device="cpu")


def test_a_killed_engine_process_fails_the_edit_clearly(tiny_model_dir) -> None:
    engine = EngineProcess.start(str(tiny_model_dir), device="cpu", dtype="fp32")
    try:
        os.kill(engine.pid, signal.SIGKILL)
        with pytest.raises(EngineProcessError, match="SIGKILL.*loaded again"):
            engine.edit(_photo(), _params())
        assert not engine.alive
        with pytest.raises(EngineProcessError):  # and stays failed, without waiting
            engine.edit(_photo(), _params())
    finally:
        engine.close()


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="lists child processes through /proc")
def test_abandoning_a_load_stops_the_child(tiny_model_dir) -> None:
    class Stop(Exception):
        pass

    calls = []

    def check() -> None:
        calls.append(1)
        if len(calls) > 3:
            raise Stop

    pids_before = live_children()
    with pytest.raises(Stop):
        EngineProcess.start(str(tiny_model_dir), device="cpu", check=check)
    assert live_children() <= pids_before


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="watches processes through /proc")
def test_close_ends_the_process_and_the_child_exits_when_its_parent_goes(tiny_model_dir) -> None:
    engine = EngineProcess.start(str(tiny_model_dir), device="cpu", dtype="fp32")
    pid = engine.pid
    engine.close()
    engine.close()  # twice is fine
    assert pid_exited(pid)
    with pytest.raises(EngineProcessError):
        engine.edit(_photo(), _params())

    # The parent's end of the pipe closing (as when the app is killed) ends the child on its own.
    orphan = EngineProcess.start(str(tiny_model_dir), device="cpu", dtype="fp32")
    pid = orphan.pid
    orphan._conn.close()
    assert pid_exited(pid, timeout=20)
    orphan.close()
