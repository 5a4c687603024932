"""GPU variants of our engine: fp16 / bf16, channels-last, torch.compile; steps/s and TFLOP/s.

Runs only with ``--device cuda``. Throughput is reported against the usual estimate of ~0.8 TFLOP
(multiply-adds counted twice) per SD-1.5 UNet evaluation of one batch item at 64x64 latents
(512x512 pixels); other sizes are scaled by latent area, which slightly underestimates attention.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from _engine_vs_stock import SETTINGS, Contestants, _params, make_contestants, run_ours, test_image

UNET_TFLOP_AT_64 = 0.8


def _tflop_per_eval(size: int) -> float:
    return UNET_TFLOP_AT_64 * (size / 512) ** 2


def _measure(c: Contestants, size: int, steps: int, repeats: int, seed: int) -> dict[str, Any]:
    image = test_image(size)
    params = _params(size, steps, seed, SETTINGS[0])
    runs = [run_ours(c, image, params) for _ in range(repeats)]
    denoise = statistics.median(r["timings"]["denoise"] for r in runs)
    total = statistics.median(r["wall_s"] for r in runs)
    evaluations = 3 * steps  # default guidance: all three branches
    return {
        "total_s": total,
        "denoise_s": denoise,
        "steps_per_s": steps / denoise,
        "unet_evals_per_s": evaluations / denoise,
        "achieved_tflops": _tflop_per_eval(size) * evaluations / denoise,
        "phases_s": {k: statistics.median(r["timings"][k] for r in runs) for k in runs[0]["timings"]},
    }


def gpu_variants(c: Contestants, size: int, steps: int, repeats: int, seed: int, log: Any = print) -> dict[str, Any]:
    """Each variant on the same weights; the modules are put back to fp16 NCHW afterwards."""
    import torch

    model = c.model
    results: dict[str, Any] = {"size": size, "steps": steps, "repeats": repeats, "tflop_per_unet_eval": _tflop_per_eval(size)}

    def variant(name: str, contestants: Contestants, warmups: int = 1) -> None:
        try:
            image = test_image(size)
            started = time.perf_counter()
            for _ in range(warmups):
                run_ours(contestants, image, _params(size, 2, seed, SETTINGS[0]))
            warm = time.perf_counter() - started
            figures = _measure(contestants, size, steps, repeats, seed)
            figures["warmup_s"] = warm
            results[name] = figures
            log(f"  {name:<22} {figures['steps_per_s']:6.2f} steps/s  {figures['achieved_tflops']:6.1f} TFLOP/s  "
                f"total {figures['total_s']:.3f} s (warm-up {warm:.1f} s)")
        except Exception as exc:  # one failing variant (e.g. no compiler) must not sink the others
            results[name] = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"}
            log(f"  {name:<22} failed: {results[name]['error']}")

    def on_dtype(dtype: Any) -> None:
        for module in (model.unet, model.vae, model.text_encoder):
            module.to(dtype=dtype)

    on_dtype(torch.float16)
    variant("fp16", make_contestants(model, "cuda", "fp16", channels_last=False))
    variant("fp16+channels_last", make_contestants(model, "cuda", "fp16", channels_last=True))
    if torch.cuda.is_bf16_supported():
        on_dtype(torch.bfloat16)
        variant("bf16", make_contestants(model, "cuda", "bf16", channels_last=False))
        on_dtype(torch.float16)
    compiled = make_contestants(model, "cuda", "fp16", channels_last=False)
    original_unet = compiled.engine.components.unet
    compiled.engine.components.unet = torch.compile(original_unet)
    try:
        variant("fp16+torch.compile", compiled, warmups=2)
    finally:
        compiled.engine.components.unet = original_unet
    from _engine_vs_stock import set_layout

    set_layout(model, False)
    return results
