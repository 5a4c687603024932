"""The edit engine: InstructPix2Pix, stage by stage.

    instruction encoder (CLIP text)  ->  cond / uncond embeddings        (cached per instruction)
    image encoder (VAE encoder)      ->  image latent, distribution mode (cached per image)
    guided denoiser (8-channel UNet) ->  noisy latent ++ image latent, three guidance branches
                                         uncond + s_T (text - img) + s_I (img - uncond)
    decoder (VAE decoder)            ->  RGB at working resolution
    transfer                         ->  the edit carried onto the full-resolution photo

Numerically it follows diffusers' ``StableDiffusionInstructPix2PixPipeline`` (same seed semantics:
a CPU ``torch.Generator``), so results match the reference; the differences are what a desktop
editor needs: encoder caches, skipping guidance branches whose weight is zero, fp32 latents with
half-precision networks, previews, cancellation and a memory policy with an out-of-memory retry.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterator

from PIL import Image

from .cancel import CancelToken
from .cpu_fast_paths import CpuFastPaths
from .devices import DeviceChoice, choose_device
from .errors import EditCancelled, IP2PError, OutOfMemoryError
from .memory import MemorySavers, choose_savers, estimate_edit_bytes, module_bytes, process_rss_bytes
from .model_loading import LoadProgress, ModelComponents, load_components
from .params import EditParams, EditResult, StepProgress
from .preview import latent_preview
from .schedulers import make_scheduler

__all__ = ["EditEngine", "EngineInfo", "CancelToken", "GuidanceBranches"]

ProgressCallback = Callable[[StepProgress], None]

_TEXT_CACHE_SIZE = 64  # instructions and negative texts
_IMAGE_CACHE_SIZE = 4


@dataclass(frozen=True)
class EngineInfo:
    model_id: str
    device: str
    dtype: str
    device_name: str
    weights_hash: str
    source_kind: str


@dataclass(frozen=True)
class GuidanceBranches:
    """Weights of the three UNet branches in ``s_T·text + (s_I − s_T)·image + (1 − s_I)·uncond``.

    That is the reference formula ``uncond + s_T(text − img) + s_I(img − uncond)`` regrouped per
    branch, which shows when a branch does not contribute at all (e.g. s_I = 1 drops uncond) and
    need not be evaluated.
    """

    text: float
    image: float
    uncond: float

    @classmethod
    def from_scales(cls, text_guidance: float, image_guidance: float) -> "GuidanceBranches":
        return cls(text=text_guidance, image=image_guidance - text_guidance, uncond=1.0 - image_guidance)

    def active(self) -> list[str]:
        return [name for name in ("text", "image", "uncond") if getattr(self, name) != 0.0]


@dataclass
class _Instruction:
    cond: Any  # (1, 77, D) CLIP hidden states of the instruction
    uncond: Any  # (1, 77, D) of the negative text ("" by default)


class EditEngine:
    """Loads a model once and runs many edits. Not thread-safe: one edit at a time."""

    def __init__(
        self,
        components: ModelComponents,
        choice: DeviceChoice,
        *,
        savers: MemorySavers | None = None,
        channels_last: bool | None = None,
        prepack_convs: bool | None = None,
        vae_reference: bool | None = None,
    ):
        import torch

        self._torch = torch
        self.components = components
        self.choice = choice
        self._forced_savers = savers
        self._savers = MemorySavers()
        self._device = choice.torch_device
        self._dtype = choice.torch_dtype
        self._text_cache: OrderedDict[str, Any] = OrderedDict()
        self._image_cache: OrderedDict[str, Any] = OrderedDict()
        self._reference_cache: OrderedDict[str, Image.Image] = OrderedDict()
        # The full-resolution transfer is exact in untouched areas when it knows what the VAE
        # alone does to the source (one extra decode per source image, cached). Cheap on a GPU;
        # on a CPU it costs as much as the final decode, so there it is opt-in.
        self.vae_reference = (choice.device != "cpu") if vae_reference is None else bool(vae_reference)
        for module in (components.text_encoder, components.vae, components.unet):
            module.requires_grad_(False)
            module.eval()
        # NHWC layout on the CPU: the VAE runs ~15-20% faster with oneDNN (the UNet about the same);
        # same maths, same pictures. Left off on GPUs until measured there (benchmarks/run.py
        # --device cuda has the variant).
        self.channels_last = (choice.device == "cpu") if channels_last is None else bool(channels_last)
        if self.channels_last:
            for module in (components.vae, components.unet):
                module.to(memory_format=torch.channels_last)
        self._fast_paths = None
        if choice.device == "cpu":
            if prepack_convs is None:
                prepack_convs = CpuFastPaths.packing_fits(components.unet)
            self._fast_paths = CpuFastPaths(components.unet, components.vae, pack=bool(prepack_convs))
        self.prepacked_convs = self._fast_paths is not None and self._fast_paths.pack
        self._weight_bytes = sum(module_bytes(m) for m in (components.text_encoder, components.vae, components.unet))
        self._vae_scale = 2 ** (len(components.vae.config.block_out_channels) - 1)
        self._apply_savers(savers or MemorySavers())

    # ------------------------------------------------------------------ construction

    @classmethod
    def load(
        cls,
        model: str | None = None,
        *,
        device: str = "auto",
        dtype: str = "auto",
        progress: LoadProgress | None = None,
        allow_download: bool = True,
        savers: MemorySavers | None = None,
        single_file_config: Any = None,
        vae_reference: bool | None = None,
    ) -> "EditEngine":
        choice = choose_device(device, dtype)
        components = load_components(
            model,
            torch_dtype=choice.torch_dtype,
            progress=progress,
            allow_download=allow_download,
            single_file_config=single_file_config,
        )
        engine = cls(components, choice, savers=savers, vae_reference=vae_reference)
        if progress:
            progress("ready", 1.0)
        return engine

    def describe(self) -> EngineInfo:
        return EngineInfo(
            model_id=self.components.model_id,
            device=self.choice.device,
            dtype=self.choice.dtype_name,
            device_name=self.choice.device_name,
            weights_hash=self.components.weights_hash,
            source_kind=self.components.source_kind,
        )

    @property
    def savers(self) -> MemorySavers:
        return self._savers

    def memory_in_use(self) -> dict[str, int | None]:
        torch = self._torch
        vram = torch.cuda.memory_allocated() if self.choice.device == "cuda" else None
        return {"vram_used": vram, "ram_rss": process_rss_bytes()}

    def clear_caches(self) -> None:
        self._reference_cache.clear()
        self._text_cache.clear()
        self._image_cache.clear()

    # ------------------------------------------------------------------ memory policy

    def _apply_savers(self, savers: MemorySavers) -> None:
        unet, vae = self.components.unet, self.components.vae
        if savers.attention_slicing != self._savers.attention_slicing:
            if hasattr(unet, "set_attention_slice"):
                unet.set_attention_slice("auto" if savers.attention_slicing else None)
        if savers.vae_tiling != self._savers.vae_tiling:
            vae.enable_tiling() if savers.vae_tiling else vae.disable_tiling()
        self._savers = savers
        target = "cpu" if savers.cpu_offload else self._device
        for module in (self.components.text_encoder, vae, unet):
            module.to(target)

    @contextlib.contextmanager
    def _on_device(self, module: Any) -> Iterator[Any]:
        """With CPU offload on, a network visits the GPU only while its stage runs."""
        if not self._savers.cpu_offload:
            yield module
            return
        module.to(self._device)
        try:
            yield module
        finally:
            module.to("cpu")
            if self.choice.device == "cuda":
                self._torch.cuda.empty_cache()

    def _fast_kernels(self) -> contextlib.AbstractContextManager[None]:
        return self._fast_paths.installed() if self._fast_paths is not None else contextlib.nullcontext()

    def _plan_savers(self, width: int, height: int, branches: int) -> None:
        if self._forced_savers is not None or self.choice.device != "cuda":
            return
        torch = self._torch
        free, _total = torch.cuda.mem_get_info()
        resident = 0 if self._savers.cpu_offload else self._weight_bytes
        need = estimate_edit_bytes(width, height, branches, self._weight_bytes, self.choice.dtype_name != "fp32")
        savers = choose_savers("cuda", free + resident, need, self._weight_bytes)
        if savers != self._savers:
            self._apply_savers(savers)

    # ------------------------------------------------------------------ stages

    def encode_instruction(self, instruction: str, negative: str = "") -> tuple[_Instruction, bool]:
        """Instruction encoder: CLIP text hidden states for the instruction and the negative text.

        Texts are cached one by one (the empty negative is shared by every instruction), and the
        ones not cached yet go through the encoder together in one batch.
        """
        missing = [text for text in dict.fromkeys((instruction, negative)) if text not in self._text_cache]
        if missing:
            torch = self._torch
            tokenizer = self.components.tokenizer
            text_encoder = self.components.text_encoder
            with torch.inference_mode(), self._on_device(text_encoder):
                tokens = tokenizer(
                    missing,
                    padding="max_length",
                    max_length=tokenizer.model_max_length,
                    truncation=True,
                    return_tensors="pt",
                )
                use_mask = getattr(text_encoder.config, "use_attention_mask", False)
                mask = tokens.attention_mask.to(text_encoder.device) if use_mask else None
                hidden = text_encoder(tokens.input_ids.to(text_encoder.device), attention_mask=mask)[0]
                hidden = hidden.to(device=self._device, dtype=self.components.unet.dtype)
            for index, text in enumerate(missing):
                self._text_cache[text] = hidden[index : index + 1]
        for text in (instruction, negative):
            self._text_cache.move_to_end(text)
        while len(self._text_cache) > _TEXT_CACHE_SIZE:
            self._text_cache.popitem(last=False)
        entry = _Instruction(cond=self._text_cache[instruction], uncond=self._text_cache[negative])
        return entry, not missing

    def encode_image(self, working: Image.Image) -> tuple[Any, bool]:
        """Image encoder: the VAE latent distribution's mode, unscaled, as the reference uses it."""
        import numpy as np

        key = _image_key(working)
        cached = self._image_cache.get(key)
        if cached is not None:
            self._image_cache.move_to_end(key)
            return cached, True
        torch = self._torch
        vae = self.components.vae
        array = np.asarray(working.convert("RGB"), dtype=np.float32) / 255.0
        pixels = torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0) * 2.0 - 1.0
        with torch.inference_mode(), self._on_device(vae):
            pixels = pixels.to(device=vae.device, dtype=vae.dtype)
            latent = vae.encode(pixels).latent_dist.mode()
            latent = latent.to(device=self._device, dtype=self.components.unet.dtype)
        self._image_cache[key] = latent
        while len(self._image_cache) > _IMAGE_CACHE_SIZE:
            self._image_cache.popitem(last=False)
        return latent, False

    def vae_round_trip(self, working: Image.Image, image_latent: Any) -> Image.Image:
        """The source as the decoder alone renders it: what "unchanged" looks like after the VAE."""
        key = _image_key(working)
        cached = self._reference_cache.get(key)
        if cached is not None:
            self._reference_cache.move_to_end(key)
            return cached
        reference = self.decode(image_latent.float() * self.components.vae.config.scaling_factor)
        self._reference_cache[key] = reference
        while len(self._reference_cache) > _IMAGE_CACHE_SIZE:
            self._reference_cache.popitem(last=False)
        return reference

    def denoise(
        self,
        instruction: _Instruction,
        image_latent: Any,
        params: EditParams,
        *,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> Any:
        """Guided denoiser: the 8-channel UNet under three-branch classifier-free guidance."""
        torch = self._torch
        unet = self.components.unet
        assert params.seed is not None
        generator = torch.Generator("cpu").manual_seed(int(params.seed))
        scheduler = make_scheduler(params.scheduler, self.components.scheduler_config)
        scheduler.set_timesteps(params.steps, device=self._device)
        step_kwargs: dict[str, Any] = {}
        step_params = inspect.signature(scheduler.step).parameters
        if "generator" in step_params:
            step_kwargs["generator"] = generator
        if "eta" in step_params:
            step_kwargs["eta"] = 0.0

        weights = GuidanceBranches.from_scales(params.text_guidance, params.image_guidance)
        active = weights.active() or ["text"]
        zeros = torch.zeros_like(image_latent)
        branch_inputs = {
            "text": (instruction.cond, image_latent),
            "image": (instruction.uncond, image_latent),
            "uncond": (instruction.uncond, zeros),
        }
        _, _, h, w = image_latent.shape
        # Random numbers are drawn in fp32 on the CPU generator, as diffusers does for fp32, so a
        # seed gives the same picture on every device.
        latents = torch.randn((1, 4, h, w), generator=generator, dtype=torch.float32).to(self._device)
        latents = latents * scheduler.init_noise_sigma

        groups = [[b] for b in active] if self._savers.sequential_branches else [active]
        stacked = {
            tuple(g): (
                torch.cat([branch_inputs[b][0] for b in g]),
                torch.cat([branch_inputs[b][1] for b in g]),
            )
            for g in groups
        }
        timesteps = scheduler.timesteps
        started = time.perf_counter()
        with torch.inference_mode(), self._on_device(unet), self._fast_kernels():
            for index, t in enumerate(timesteps):
                if cancel is not None:
                    cancel.raise_if_cancelled()
                scaled = scheduler.scale_model_input(latents, t).to(unet.dtype)
                noise_pred = None
                for group in groups:
                    text_states, image_latents = stacked[tuple(group)]
                    model_in = torch.cat([scaled.expand(len(group), -1, -1, -1), image_latents], dim=1)
                    out = unet(model_in, t, encoder_hidden_states=text_states, return_dict=False)[0].float()
                    for i, branch in enumerate(group):
                        term = out[i : i + 1] * getattr(weights, branch)
                        noise_pred = term if noise_pred is None else noise_pred + term
                previous = latents
                step = scheduler.step(noise_pred, t, latents, **step_kwargs, return_dict=True)
                latents = step.prev_sample
                if progress is not None:
                    estimate = getattr(step, "pred_original_sample", None)
                    if estimate is None:
                        estimate = _estimate_x0(scheduler, previous, noise_pred, index)
                    progress(
                        StepProgress(
                            step=index + 1,
                            total=len(timesteps),
                            elapsed_s=time.perf_counter() - started,
                            preview=latent_preview(estimate),
                        )
                    )
                if cancel is not None:
                    cancel.raise_if_cancelled()
        return latents

    def decode(self, latents: Any) -> Image.Image:
        """Decoder: VAE decode to RGB, rounded as diffusers' image processor does."""
        torch = self._torch
        vae = self.components.vae
        with torch.inference_mode(), self._on_device(vae):
            scaled = (latents / vae.config.scaling_factor).to(device=vae.device, dtype=vae.dtype)
            with self._fast_kernels():
                pixels = vae.decode(scaled, return_dict=False)[0]
            if not torch.isfinite(pixels).all() and vae.dtype != torch.float32:
                # fp16 VAEs can overflow on large or saturated images: decode that one in fp32.
                vae.to(torch.float32)
                try:
                    pixels = vae.decode(scaled.float(), return_dict=False)[0]
                finally:
                    vae.to(self._dtype)
            pixels = (pixels.float() / 2 + 0.5).clamp(0, 1)
            array = (pixels[0].permute(1, 2, 0).cpu().numpy() * 255).round().astype("uint8")
        return Image.fromarray(array, "RGB")

    # ------------------------------------------------------------------ edits

    def edit(
        self,
        image: Image.Image,
        params: EditParams,
        *,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> EditResult:
        """One instruction on one image. Raises EditCancelled (no partial result) or IP2PError."""
        params = params.validate().with_seed()
        try:
            return self._edit_once(image, params, progress, cancel)
        except (IP2PError, EditCancelled):
            raise
        except Exception as exc:
            if not _is_out_of_memory(self._torch, exc) or self._savers == self._savers.all_on():
                raise
        # Out of device memory: drop caches, switch every saver on and try once more.
        self._recover_from_oom()
        try:
            return self._edit_once(image, params, progress, cancel)
        except Exception as exc:
            if _is_out_of_memory(self._torch, exc):
                self._recover_from_oom()
                raise OutOfMemoryError(
                    f"Out of {self.choice.device.upper()} memory at {params.resolution} px even with every memory saver on; "
                    "lower the working resolution (e.g. 512), close other GPU programs, or use --device cpu."
                ) from None
            raise

    def _recover_from_oom(self) -> None:
        self.clear_caches()
        if self.choice.device == "cuda":
            self._torch.cuda.empty_cache()
        self._apply_savers(self._savers.all_on())

    def _edit_once(
        self,
        image: Image.Image,
        params: EditParams,
        progress: ProgressCallback | None,
        cancel: CancelToken | None,
    ) -> EditResult:
        from .resolution import to_working, working_result_at_aspect, working_size
        from .transfer import match_colors, transfer_edit

        torch = self._torch
        timings: dict[str, float] = {}
        clock = time.perf_counter()
        started = clock

        def lap(name: str) -> None:
            nonlocal clock
            if self.choice.device == "cuda":
                torch.cuda.synchronize()
            now = time.perf_counter()
            timings[name] = now - clock
            clock = now

        if cancel is not None:
            cancel.raise_if_cancelled()
        original = image if image.mode == "RGB" else image.convert("RGB")
        size = working_size(original.width, original.height, params.resolution)
        working = original if size == original.size else to_working(original, params.resolution)
        branches = len(GuidanceBranches.from_scales(params.text_guidance, params.image_guidance).active())
        self._plan_savers(size[0], size[1], branches)
        lap("preprocess")

        instruction, instruction_hit = self.encode_instruction(params.instruction, params.negative)
        lap("instruction_encoder")
        image_latent, image_hit = self.encode_image(working)
        lap("image_encoder")
        if self._fast_paths is not None and self._fast_paths.prepare():
            lap("prepack")  # once per session (and after the weights change)
        latents = self.denoise(instruction, image_latent, params, progress=progress, cancel=cancel)
        if not torch.isfinite(latents).all():
            latents = self._denoise_in_higher_precision(instruction, image_latent, params, progress, cancel)
        lap("denoise")
        timings["per_step"] = timings["denoise"] / max(params.steps, 1)
        working_result = self.decode(latents)
        lap("decoder")

        if params.output_size == "working":
            matched = match_colors(working_result, working, strength=params.color_match) if params.color_match else working_result
            delivered = working_result_at_aspect(matched, original.size, params.resolution)
        elif size == original.size:
            # Nothing was downscaled, so there is no detail to restore: deliver the model output.
            delivered = match_colors(working_result, working, strength=params.color_match) if params.color_match else working_result
        else:
            reference = self.vae_round_trip(working, image_latent) if self.vae_reference else None
            delivered = transfer_edit(
                original, working, working_result, color_match=params.color_match, working_reference=reference
            )
        lap("transfer")
        timings["total"] = time.perf_counter() - started
        return EditResult(
            image=delivered,
            working_image=working_result,
            params=params,
            model_id=self.components.model_id,
            timings=timings,
            cache_hits={"instruction": instruction_hit, "image": image_hit},
        )

    def _denoise_in_higher_precision(
        self,
        instruction: _Instruction,
        image_latent: Any,
        params: EditParams,
        progress: ProgressCallback | None,
        cancel: CancelToken | None,
    ) -> Any:
        """fp16 UNets occasionally overflow to NaN: redo that edit in bf16 (or fp32) once."""
        torch = self._torch
        unet = self.components.unet
        if unet.dtype == torch.float32:
            raise IP2PError("The model produced an invalid (NaN) result; try another seed or fewer guidance.")
        fallback = torch.bfloat16 if self.choice.device == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
        original_dtype = unet.dtype
        unet.to(fallback)
        try:
            converted = _Instruction(instruction.cond.to(fallback), instruction.uncond.to(fallback))
            return self.denoise(converted, image_latent.to(fallback), params, progress=progress, cancel=cancel)
        finally:
            unet.to(original_dtype)

    def edit_chain(
        self,
        image: Image.Image,
        chain: list[EditParams],
        *,
        progress: Callable[[int, StepProgress], None] | None = None,
        cancel: CancelToken | None = None,
    ) -> list[EditResult]:
        """Run instructions one after another, each on the previous full-resolution result."""
        results: list[EditResult] = []
        current = image
        for index, params in enumerate(chain):
            step_progress = (lambda p, i=index: progress(i, p)) if progress else None
            result = self.edit(current, params, progress=step_progress, cancel=cancel)
            results.append(result)
            current = result.image
        return results

    def with_params(self, params: EditParams, **changes: Any) -> EditParams:
        return replace(params, **changes)


def _image_key(image: Image.Image) -> str:
    return hashlib.sha1(image.tobytes()).hexdigest() + f"{image.size}"


def _estimate_x0(scheduler: Any, latents: Any, noise_pred: Any, index: int) -> Any:
    """The denoised estimate for schedulers that don't report one (used only for previews)."""
    sigmas = getattr(scheduler, "sigmas", None)
    if sigmas is not None and index < len(sigmas):
        return latents - sigmas[index].to(latents.device) * noise_pred
    alphas = getattr(scheduler, "alphas_cumprod", None)
    if alphas is not None:
        t = int(scheduler.timesteps[index])
        a = alphas[t].to(latents.device)
        return (latents - (1 - a).sqrt() * noise_pred) / a.sqrt()
    return latents


def _is_out_of_memory(torch: Any, exc: BaseException) -> bool:
    oom_type = getattr(torch.cuda, "OutOfMemoryError", None)
    if oom_type is not None and isinstance(exc, oom_type):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()
