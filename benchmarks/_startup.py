"""Start-up time of the app against a bare PySide6 window, model-ready time, UI-thread stalls.

Every measurement is a fresh process (``_desktop_probe.py``) with a throw-away user profile (its
own XDG folders and Hugging Face cache), timed from just before it is spawned, offscreen.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCHMARKS = Path(__file__).resolve().parent
PROBE = BENCHMARKS / "_desktop_probe.py"
SHARED_PHOTO = BENCHMARKS.parent / ".." / "shared" / "images" / "photos" / "chelsea.png"


def _probe(mode: str, extra: list[str], profile: Path, timeout_s: float, env_extra: dict[str, str] | None = None) -> dict[str, Any]:
    env = dict(os.environ)
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        folder = profile / name.lower()
        folder.mkdir(parents=True, exist_ok=True)
        env[name] = str(folder)
    env["HF_HOME"] = str(profile / "hf")
    env["QT_QPA_PLATFORM"] = "offscreen"
    env["HF_HUB_OFFLINE"] = "1"
    env.update(env_extra or {})
    spawned = time.time()
    try:
        done = subprocess.run(
            [sys.executable, str(PROBE), mode, *extra, "--timeout", str(timeout_s)],
            capture_output=True, text=True, timeout=timeout_s + 60, env=env, cwd=BENCHMARKS.parent,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"{mode} probe did not finish within {timeout_s + 60:.0f} s"}
    for line in done.stdout.splitlines():
        if line.startswith("PROBE "):
            stamps = json.loads(line[len("PROBE "):])
            out: dict[str, Any] = {k: v for k, v in stamps.items() if not isinstance(v, float) or k == "longest_stall_s"}
            for key in ("shown", "model_ready", "photo_open", "edit_started", "edit_done", "end", "longest_stall_end"):
                if isinstance(stamps.get(key), float):
                    out[f"{key}_s"] = stamps[key] - spawned
            return out
    tail = " | ".join((done.stdout + done.stderr).strip().splitlines()[-4:])[:400]
    return {"error": f"{mode} probe exit {done.returncode} without a result: {tail}"}


def startup(repeats: int, model_dir: Path | None, edit: bool, timeout_s: float = 300, log: Any = print) -> dict[str, Any]:
    """Alternating bare / app starts; then one start with the model (and an edit) for readiness/stalls."""
    try:
        import ip2p_desktop.app  # noqa: F401 - only checks that the app is there
    except Exception as exc:  # the app is optional for the engine benchmarks
        reason = f"ip2p_desktop.app cannot be imported ({type(exc).__name__}: {exc})"
        return {"startup": {"available": False, "reason": reason}, "ui_responsiveness": {"available": False, "reason": reason}}

    # An installed app starts from compiled bytecode; a checkout whose environment sets
    # PYTHONDONTWRITEBYTECODE would otherwise recompile every edited module on each start.
    import compileall

    for package in ("ip2p_core", "ip2p_desktop"):
        compileall.compile_dir(str(BENCHMARKS.parent / package), quiet=1)

    bare_s: list[float] = []
    app_s: list[float] = []
    errors: list[str] = []
    with tempfile.TemporaryDirectory(prefix="ip2p-bench-profile-") as tmp:
        profile = Path(tmp)
        for index in range(repeats):
            bare = _probe("bare", [], profile / f"bare{index}", timeout_s)
            app = _probe("app", [], profile / f"app{index}", timeout_s)
            for result, bucket in ((bare, bare_s), (app, app_s)):
                if "shown_s" in result:
                    bucket.append(result["shown_s"])
                else:
                    errors.append(result.get("error") or f"no window shown ({result.get('end_reason')})")
            log(f"  start-up round {index + 1}/{repeats}: bare {bare.get('shown_s', float('nan')):.2f} s  "
                f"app {app.get('shown_s', float('nan')):.2f} s")
        start: dict[str, Any]
        if bare_s and app_s:
            start = {
                "available": True,
                "bare_window_s": statistics.median(bare_s),
                "app_window_s": statistics.median(app_s),
                "ratio": statistics.median(app_s) / statistics.median(bare_s),
                "target_ratio": 2.0,
                "samples": {"bare": bare_s, "app": app_s},
            }
        else:
            start = {"available": False, "reason": "; ".join(errors)[:400] or "no samples"}
        if errors and start.get("available"):
            start["errors"] = errors

        responsiveness: dict[str, Any]
        if model_dir is None:
            responsiveness = {"available": False, "reason": "no model folder to load"}
        else:
            extra = ["--model", str(model_dir)]
            if edit and SHARED_PHOTO.is_file():
                extra += ["--edit", str(SHARED_PHOTO)]
            run = _probe("app", extra, profile / "loaded", timeout_s)
            log(f"  app with model: {json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in run.items()})}")
            if "model_ready_s" in run:
                start["model_ready_s"] = run["model_ready_s"]
                start["model_ready_after_window_s"] = run["model_ready_s"] - run.get("shown_s", 0.0)
            if run.get("longest_stall_s") is not None and "error" not in run:
                responsiveness = {
                    "available": True,
                    "longest_stall_ms": run["longest_stall_s"] * 1000,
                    "target_ms": 50,
                    "ticks": run.get("ticks"),
                    "longest_stall_ms_by_phase": {
                        k: v * 1000 for k, v in (run.get("longest_stall_by_phase_s") or {}).items()
                    },
                    "covers": "window shown -> model loaded" + (" -> photo opened -> one edit done" if "edit_done_s" in run else ""),
                    "end_reason": run.get("end_reason"),
                    "edit_s": (run["edit_done_s"] - run["edit_started_s"]) if "edit_done_s" in run else None,
                }
            else:
                responsiveness = {"available": False, "reason": run.get("error") or str(run)[:300]}
    return {"startup": start, "ui_responsiveness": responsiveness}
