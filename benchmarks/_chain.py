"""Chained edits (each instruction on the previous result) and memory over a long session."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from PIL import Image

BENCHMARKS = Path(__file__).resolve().parent
SHARED_PHOTOS = BENCHMARKS.parent / ".." / "shared" / "images" / "photos"
MB = 1 << 20
CHAIN = ("make it winter", "turn the car red", "add snow", "make it a painting", "make it night")


class RssSampler:
    """Samples this process's resident memory every few ms on a thread; keeps the peak."""

    def __init__(self, interval_s: float = 0.02) -> None:
        from ip2p_core.memory import process_rss_bytes

        self._read = process_rss_bytes
        self._interval = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.start_bytes = self._read() or 0
        self.peak_bytes = self.start_bytes

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.peak_bytes = max(self.peak_bytes, self._read() or 0)

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.end_bytes = self._read() or 0
        self.peak_bytes = max(self.peak_bytes, self.end_bytes)


def chain_photo() -> Image.Image:
    """A real photo larger than the working size, so every edit also runs the full-res transfer."""
    path = SHARED_PHOTOS / "coffee.png"
    if path.is_file():
        return Image.open(path).convert("RGB")
    return Image.new("RGB", (600, 400), (120, 140, 160))


def tiny_engine() -> Any:
    """The test-suite's tiny random model, built in memory (for --quick: seconds, not minutes)."""
    from ip2p_core.devices import choose_device
    from ip2p_core.engine import EditEngine
    from ip2p_core.model_loading import ModelComponents
    from ip2p_core.tiny_model import build_tiny_pipeline

    pipe = build_tiny_pipeline()
    components = ModelComponents.in_memory(pipe, pipe.scheduler.config, "tiny-random")
    return EditEngine(components, choose_device("cpu", "fp32"))


def full_engine(device: str = "cpu") -> Any:
    """Our engine on the SD-1.5-shaped random model (as run.py builds it), default dtype."""
    from _sd15_model import build_sd15_model

    from ip2p_core.devices import choose_device
    from ip2p_core.engine import EditEngine
    from ip2p_core.model_loading import ModelComponents

    model = build_sd15_model()
    choice = choose_device(device, "auto")
    for module in (model.unet, model.vae, model.text_encoder):
        module.to(device=choice.torch_device, dtype=choice.torch_dtype)
    components = ModelComponents.in_memory(model, model.scheduler_config, "random-sd15-ip2p")
    return EditEngine(components, choice)


def chained_edits_in_subprocess(
    model: str, resolution: int, steps: int, threads: int | None, device: str = "cpu", timeout_s: float = 1200
) -> dict[str, Any]:
    """In a fresh process, so its RSS figures are the chain's own, not this suite's."""
    import json

    command = [sys.executable, str(Path(__file__)), "--model", model, "--resolution", str(resolution),
               "--steps", str(steps), "--device", device]
    if threads:
        command += ["--threads", str(threads)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, cwd=BENCHMARKS.parent)
    except subprocess.TimeoutExpired:
        return {"error": f"chained edits ran over {timeout_s:.0f} s"}
    for line in done.stdout.splitlines():
        if line.startswith("CHAIN "):
            return json.loads(line[len("CHAIN "):])
    tail = " | ".join((done.stdout + done.stderr).strip().splitlines()[-3:])[:300]
    return {"error": f"chained edits exit {done.returncode}: {tail}"}


def chained_edits(engine: Any, model_name: str, resolution: int, steps: int, seed: int = 7) -> dict[str, Any]:
    from ip2p_core.params import EditParams

    photo = chain_photo()
    chain = [EditParams(text, steps=steps, seed=seed + i, resolution=resolution) for i, text in enumerate(CHAIN)]
    engine.clear_caches()
    with RssSampler() as rss:
        started = time.perf_counter()
        results = engine.edit_chain(photo, chain)
        total = time.perf_counter() - started
    return {
        "model": model_name,
        "edits": len(chain),
        "photo": f"{photo.width}x{photo.height}",
        "resolution": resolution,
        "steps": steps,
        "total_s": total,
        "per_edit_s": [round(r.timings.get("total", 0.0), 3) for r in results],
        "rss_before_mb": rss.start_bytes / MB,
        "peak_rss_mb": rss.peak_bytes / MB,
        "peak_rss_above_before_mb": (rss.peak_bytes - rss.start_bytes) / MB,
        "rss_after_mb": rss.end_bytes / MB,
    }


def session_memory(edits: int = 20, megapixels: float = 24.0, timeout_s: float = 900) -> dict[str, Any]:
    """RSS growth over chained edits on a big photo with the session layer, via session_memory.py."""
    script = BENCHMARKS / "session_memory.py"
    if not script.is_file():
        return {"available": False, "reason": "benchmarks/session_memory.py not present"}
    command = [sys.executable, str(script), "--edits", str(edits), "--megapixels", str(megapixels)]
    started = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, cwd=BENCHMARKS.parent)
    except subprocess.TimeoutExpired:
        return {"available": False, "reason": f"session_memory.py ran over {timeout_s:.0f} s"}
    output = done.stdout + done.stderr
    growth = re.search(r"growth\s*([+-]?\d+(?:\.\d+)?)\s*MB", output)
    # Its "peak RSS" is not reported: Linux carries a parent's peak into a child's ru_maxrss.
    if done.returncode != 0 or growth is None:
        tail = " | ".join(output.strip().splitlines()[-3:])[:300]
        return {"available": False, "reason": f"session_memory.py exit {done.returncode}: {tail}"}
    return {
        "available": True,
        "edits": edits,
        "megapixels": megapixels,
        "rss_growth_mb": float(growth.group(1)),
        "target_mb": 500,
        "passed": float(growth.group(1)) <= 500,
        "seconds": time.perf_counter() - started,
        "note": "tiny random model on CPU; the session layer (history on disk) is what is measured",
    }


def main() -> int:
    import argparse
    import json
    import os

    parser = argparse.ArgumentParser(description="5 chained edits in this process; prints CHAIN {json}")
    parser.add_argument("--model", choices=("tiny", "full"), default="tiny")
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path[:0] = [str(BENCHMARKS.parent), str(BENCHMARKS)]
    from ip2p_core.library_noise import disable_load_progress_bars, quiet_libraries

    quiet_libraries(keep_download_progress=False)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    disable_load_progress_bars()
    started = time.perf_counter()
    engine = full_engine(args.device) if args.model == "full" else tiny_engine()
    name = "full-size SD-1.5-shaped model" if args.model == "full" else "tiny test model"
    load_s = time.perf_counter() - started
    result = chained_edits(engine, name, args.resolution, args.steps)
    result["engine_build_s"] = load_s
    result["conv_prepack"] = bool(getattr(engine, "prepacked_convs", False))
    print("CHAIN " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
