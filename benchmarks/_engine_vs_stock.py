"""Our engine against diffusers' stock ``StableDiffusionInstructPix2PixPipeline``, side by side.

Both run on the very same module objects (same weights), input, seed, steps, scheduler and
guidances, alternating ours / stock so that load changes on a shared machine hit both alike;
medians of N. What each side gets is what its user gets by default:

* stock: the pipeline as ``from_pretrained`` builds it (NCHW weights, no progress bar, no safety
  checker, which the reference model does not ship anyway);
* ours: ``EditEngine`` with its defaults, caches cleared before every timed run, so every run pays
  for both encoders as stock does (the re-run with a new seed, which skips them, is measured on
  its own). No progress callback on either side, so neither pays for previews.

The engine keeps its UNet/VAE weights in its preferred memory layout (channels-last on the CPU);
since the modules are shared, they are switched to the stock layout before each stock run, outside
the timed region.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from _sd15_model import Sd15Model

SHARED_PHOTO = Path(__file__).resolve().parents[1] / ".." / "shared" / "images" / "photos" / "astronaut.png"
INSTRUCTION = "make it winter"


@dataclass(frozen=True)
class Setting:
    name: str
    text_guidance: float
    image_guidance: float


SETTINGS = (Setting("default", 7.5, 1.5), Setting("image_guidance_1", 7.5, 1.0))


@dataclass
class Contestants:
    model: Sd15Model
    engine: Any  # ip2p_core.engine.EditEngine
    stock: Any  # diffusers StableDiffusionInstructPix2PixPipeline
    device: str

    @property
    def engine_channels_last(self) -> bool:
        return bool(getattr(self.engine, "channels_last", False))


def make_contestants(model: Sd15Model, device: str, dtype: str, *, channels_last: bool | None = None) -> Contestants:
    from diffusers import EulerAncestralDiscreteScheduler, StableDiffusionInstructPix2PixPipeline

    from ip2p_core.devices import choose_device
    from ip2p_core.engine import EditEngine
    from ip2p_core.model_loading import ModelComponents

    components = ModelComponents.in_memory(model, model.scheduler_config, "random-sd15-ip2p")
    kwargs = {} if channels_last is None else {"channels_last": channels_last}
    engine = EditEngine(components, choose_device(device, dtype), **kwargs)
    stock = StableDiffusionInstructPix2PixPipeline(
        vae=model.vae,
        text_encoder=model.text_encoder,
        tokenizer=model.tokenizer,
        unet=model.unet,
        scheduler=EulerAncestralDiscreteScheduler.from_config(model.scheduler_config),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    stock.set_progress_bar_config(disable=True)
    return Contestants(model=model, engine=engine, stock=stock, device=device)


def test_image(size: int) -> Image.Image:
    """A real photo at size x size (a smooth synthetic one if the shared images are not there)."""
    if SHARED_PHOTO.is_file():
        return Image.open(SHARED_PHOTO).convert("RGB").resize((size, size), Image.Resampling.LANCZOS)
    y, x = np.mgrid[0:size, 0:size]
    rgb = np.stack([x * 255 // size, y * 255 // size, (x + y) * 127 // size], -1).astype(np.uint8)
    return Image.fromarray(rgb, "RGB")


def set_layout(model: Sd15Model, channels_last: bool) -> None:
    """Put the UNet/VAE weights in NHWC (channels-last) or NCHW layout; no-op if already there."""
    import torch

    fmt = torch.channels_last if channels_last else torch.contiguous_format
    for module in (model.unet, model.vae):
        probe = next(p for p in module.parameters() if p.dim() == 4)
        if not probe.is_contiguous(memory_format=fmt):
            module.to(memory_format=fmt)


def _sync(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def run_ours(c: Contestants, image: Image.Image, params: Any, *, cold: bool = True) -> dict[str, Any]:
    set_layout(c.model, c.engine_channels_last)
    if cold:
        c.engine.clear_caches()
    _sync(c.device)
    wall, cpu = time.perf_counter(), time.process_time()
    result = c.engine.edit(image, params)
    _sync(c.device)
    return {
        "wall_s": time.perf_counter() - wall,
        "cpu_s": time.process_time() - cpu,
        "timings": dict(result.timings),
        "cache_hits": dict(result.cache_hits),
        "image": result.image,
    }


def run_stock(c: Contestants, image: Image.Image, params: Any) -> dict[str, Any]:
    import torch

    set_layout(c.model, False)
    _sync(c.device)
    wall, cpu = time.perf_counter(), time.process_time()
    picture = c.stock(
        params.instruction,
        image=image,
        num_inference_steps=params.steps,
        guidance_scale=params.text_guidance,
        image_guidance_scale=params.image_guidance,
        generator=torch.Generator("cpu").manual_seed(int(params.seed)),
    ).images[0]
    _sync(c.device)
    return {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu, "image": picture}


def _params(size: int, steps: int, seed: int, setting: Setting) -> Any:
    from ip2p_core.params import EditParams

    return EditParams(
        INSTRUCTION,
        steps=steps,
        seed=seed,
        text_guidance=setting.text_guidance,
        image_guidance=setting.image_guidance,
        resolution=size,
        scheduler="euler_a",
    )


def mean_abs_diff_255(a: Image.Image, b: Image.Image) -> float:
    return float(np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32)).mean())


def warm_up(c: Contestants, size: int, seed: int, log: Any = print) -> None:
    """One 1-step run each at half size, untimed: first-call costs (thread pools, allocator,
    kernel selection) are paid here, not by whichever side happens to run first."""
    size = max(64, size // 2 // 8 * 8)
    image = test_image(size)
    started = time.perf_counter()
    run_ours(c, image, _params(size, 1, seed, SETTINGS[0]))
    run_stock(c, image, _params(size, 1, seed, SETTINGS[0]))
    log(f"  warm-up at {size}² done in {time.perf_counter() - started:.1f} s")


def compare_at_size(c: Contestants, size: int, steps: int, repeats: int, seed: int, log: Any = print) -> dict[str, Any]:
    """Ours and stock in alternating order for every setting, ``repeats`` rounds; medians and ratios."""
    image = test_image(size)
    samples: dict[str, dict[str, list[Any]]] = {s.name: {"ours": [], "stock": []} for s in SETTINGS}
    pair = 0
    for round_index in range(repeats):
        for setting in SETTINGS:
            params = _params(size, steps, seed, setting)
            # A B, B A, A B, ...: neither side always runs right after the other's allocations.
            if pair % 2 == 0:
                ours = run_ours(c, image, params)
                stock = run_stock(c, image, params)
            else:
                stock = run_stock(c, image, params)
                ours = run_ours(c, image, params)
            pair += 1
            samples[setting.name]["ours"].append(ours)
            samples[setting.name]["stock"].append(stock)
            log(
                f"  {size}² {setting.name:<17} round {round_index + 1}/{repeats}: "
                f"ours {ours['wall_s']:6.2f} s  stock {stock['wall_s']:6.2f} s"
            )
    out: dict[str, Any] = {"size": size, "steps": steps, "repeats": repeats, "seed": seed, "settings": {}}
    for setting in SETTINGS:
        ours, stock = samples[setting.name]["ours"], samples[setting.name]["stock"]
        ours_wall = [r["wall_s"] for r in ours]
        stock_wall = [r["wall_s"] for r in stock]
        ours_cpu = [r["cpu_s"] for r in ours]
        stock_cpu = [r["cpu_s"] for r in stock]
        phase_names = list(ours[0]["timings"])
        phases = {name: statistics.median(r["timings"].get(name, 0.0) for r in ours) for name in phase_names}
        branches = 3 if setting.image_guidance != 1.0 else 2
        out["settings"][setting.name] = {
            "text_guidance": setting.text_guidance,
            "image_guidance": setting.image_guidance,
            "ours_s": [round(x, 3) for x in ours_wall],
            "stock_s": [round(x, 3) for x in stock_wall],
            "ours_median_s": statistics.median(ours_wall),
            "stock_median_s": statistics.median(stock_wall),
            "ratio": statistics.median(ours_wall) / statistics.median(stock_wall),
            # Load spikes on a shared machine only ever add time: best-of-N is the steadier view.
            "ratio_best": min(ours_wall) / min(stock_wall),
            "ours_cpu_median_s": statistics.median(ours_cpu),
            "stock_cpu_median_s": statistics.median(stock_cpu),
            "cpu_time_ratio": statistics.median(ours_cpu) / statistics.median(stock_cpu),
            "phases_s": phases,
            "unet_evaluations_per_step": {"ours": branches, "stock": 3},
            # Same seed, same weights: the pictures must agree (reference parity at full size).
            "picture_mean_abs_diff_255": mean_abs_diff_255(ours[0]["image"], stock[0]["image"]),
        }
    return out


def rerun_with_new_seed(c: Contestants, size: int, steps: int, seed: int) -> dict[str, Any]:
    """Same image and instruction, new seed: both encoders must be skipped (served from cache)."""
    image = test_image(size)
    params = _params(size, steps, seed, SETTINGS[0])
    cold = run_ours(c, image, params, cold=True)
    warm = run_ours(c, image, params.replace(seed=seed + 1), cold=False)
    encoders = ("instruction_encoder", "image_encoder")
    cold_enc = sum(cold["timings"].get(k, 0.0) for k in encoders)
    warm_enc = sum(warm["timings"].get(k, 0.0) for k in encoders)
    return {
        "size": size,
        "steps": steps,
        "first_cache_hits": cold["cache_hits"],
        "rerun_cache_hits": warm["cache_hits"],
        "encoders_skipped": all(warm["cache_hits"].values()),
        "first_encoders_s": cold_enc,
        "rerun_encoders_s": warm_enc,
        "saved_s": cold_enc - warm_enc,
        "first_total_s": cold["wall_s"],
        "rerun_total_s": warm["wall_s"],
        "pictures_differ": mean_abs_diff_255(cold["image"], warm["image"]) > 0.0,
    }


def preview_cost(size: int, repeats: int = 20) -> dict[str, Any]:
    """What a progress callback adds per step: the x0 estimate's linear latent->RGB preview.

    Neither side gets a callback in the comparison; this is the price of live previews.
    """
    import torch

    from ip2p_core.preview import latent_preview

    latents = torch.randn(1, 4, size // 8, size // 8)
    latent_preview(latents)
    started = time.perf_counter()
    for _ in range(repeats):
        latent_preview(latents)
    return {"size": size, "per_step_ms": (time.perf_counter() - started) / repeats * 1000}
