"""``ip2p --self-test`` (unfrozen): one line, exit 0, also without stdout/stderr."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
# Through the app's real entry point, exactly as `ip2p --self-test` runs it.
SELF_TEST = ["-m", "ip2p_desktop", "--self-test"]
PASS_LINE = re.compile(r"^self-test passed: 2-step edit \d+x\d+ in [\d.]+ s \((cpu|cuda|mps), (fp32|fp16|bf16); [\d.]+ s in all\)$")


def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("QT_QPA_PLATFORM", None)  # the self-test must pick offscreen by itself
    env.pop("HF_HUB_OFFLINE", None)  # ... and go offline by itself
    env["PYTHONPATH"] = str(REPO_ROOT)
    # Logs and settings land in the test's folder, never in the real home.
    for name, sub in (("XDG_STATE_HOME", "state"), ("XDG_CONFIG_HOME", "config"), ("XDG_CACHE_HOME", "cache")):
        env[name] = str(home / sub)
    return env


def test_self_test_prints_one_passing_line_and_exits_zero(tmp_path):
    done = subprocess.run(
        [sys.executable, *SELF_TEST, "--device", "cpu"],
        capture_output=True, text=True, env=_env(tmp_path), cwd=REPO_ROOT, timeout=240,
    )
    assert done.returncode == 0, done.stderr
    assert PASS_LINE.match(done.stdout.strip()), done.stdout
    assert done.stdout.count("\n") == 1
    assert done.stderr == ""  # no library warnings or progress bars leak through


@pytest.mark.skipif(sys.platform == "win32", reason="closing descriptors needs a POSIX shell")
def test_self_test_passes_without_stdout_and_stderr(tmp_path):
    # What a windowed (frozen) app gets: no standard streams at all. Progress bars and warnings
    # would crash with AttributeError on None if anything wrote to them unguarded.
    command = f'exec "{sys.executable}" {" ".join(SELF_TEST)} --device cpu >&- 2>&-'
    done = subprocess.run(["sh", "-c", command], env=_env(tmp_path), cwd=REPO_ROOT, timeout=240)
    assert done.returncode == 0
    # Without a console the log file is where a person reads the result.
    logs = list((tmp_path / "state").rglob("*.log"))
    assert len(logs) == 1
    assert "self-test passed: 2-step edit" in logs[0].read_text()


def test_self_test_failure_is_one_line_and_nonzero(tmp_path):
    # A device that cannot exist here makes a stage fail the way a broken bundle would.
    done = subprocess.run(
        [sys.executable, *SELF_TEST, "--device", "tpu"],
        capture_output=True, text=True, env=_env(tmp_path), cwd=REPO_ROOT, timeout=240,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("self-test failed at ") and "tpu" in lines[0]

