"""Load an InstructPix2Pix model from one checkpoint file (``.safetensors`` / ``.ckpt``), offline.

The original release (``instruct-pix2pix-00-22000.ckpt``) and most community files use the
LDM/CompVis key layout: ``model.diffusion_model.*`` (UNet), ``first_stage_model.*`` (VAE),
``cond_stage_model.transformer.text_model.*`` (CLIP text encoder) and, for training checkpoints,
EMA copies of the UNet under ``model_ema.<key without "model." and without dots>``.

The conversion to diffusers modules is done by diffusers' own single-file machinery; this module
only adds the parts a desktop app needs around it: safe reading (pickles are opened with
``weights_only=True`` and refused if they reference code), the shipped SD-1.5 InstructPix2Pix
configs and CLIP tokenizer so nothing is ever downloaded, EMA preference, and a completeness
check that turns "wrong kind of model" into one clear sentence instead of silently random weights.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ip2p_core.errors import ModelLoadError
from ip2p_core.resource_paths import resource_path

if TYPE_CHECKING:  # heavy imports stay lazy: the UI imports this module at start-up
    import torch

logger = logging.getLogger(__name__)

SAFETENSORS_SUFFIXES = (".safetensors",)
PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth")
SUPPORTED_SUFFIXES = SAFETENSORS_SUFFIXES + PICKLE_SUFFIXES

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
CLIP_PREFIX = "cond_stage_model.transformer."
EMA_PREFIX = "model_ema."
_CONV_IN_KEY = UNET_PREFIX + "input_blocks.0.0.weight"
_CLIP_MARKER_KEY = CLIP_PREFIX + "text_model.embeddings.position_embedding.weight"

_CONFIG_FILES = (
    "unet/config.json",
    "vae/config.json",
    "text_encoder/config.json",
    "tokenizer/vocab.json",
    "tokenizer/merges.txt",
    "scheduler/scheduler_config.json",
)


def default_config_dir() -> Path:
    """The shipped diffusers config folder for ``timbrooks/instruct-pix2pix`` (no weights)."""
    return resource_path("sd15_ip2p")


@dataclass
class SingleFileComponents:
    """The modules of an InstructPix2Pix pipeline, loaded from one checkpoint file."""

    tokenizer: Any
    text_encoder: Any
    vae: Any
    unet: Any
    scheduler_config: dict[str, Any]
    unet_weights: Literal["ema", "non-ema"]
    source: Path

    def build_pipeline(self) -> Any:
        """A ``StableDiffusionInstructPix2PixPipeline`` over these modules (no safety checker)."""
        from diffusers import EulerAncestralDiscreteScheduler, StableDiffusionInstructPix2PixPipeline

        return StableDiffusionInstructPix2PixPipeline(
            vae=self.vae,
            text_encoder=self.text_encoder,
            tokenizer=self.tokenizer,
            unet=self.unet,
            scheduler=EulerAncestralDiscreteScheduler.from_config(self.scheduler_config),
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )


def load_single_file(
    path: str | os.PathLike[str],
    *,
    config_dir: str | os.PathLike[str] | None = None,
    torch_dtype: torch.dtype | None = None,
) -> SingleFileComponents:
    """Load tokenizer, text encoder, VAE and UNet from one LDM-layout checkpoint file.

    ``config_dir`` is a diffusers-layout folder whose ``unet/``, ``vae/``, ``text_encoder/``,
    ``tokenizer/`` and ``scheduler/`` configs describe the checkpoint (default: the shipped
    SD-1.5 InstructPix2Pix configs). ``torch_dtype`` defaults to ``torch.float32``.
    Never touches the network. Raises :class:`ModelLoadError` with a one-line message.
    """
    import torch

    path = Path(path)
    config_dir = Path(config_dir) if config_dir is not None else default_config_dir()
    dtype = torch_dtype if torch_dtype is not None else torch.float32
    _check_config_dir(config_dir)

    state_dict = read_state_dict(path)
    parts = _split_components(state_dict, path.name)
    del state_dict  # each component's dict is released once it is loaded, to cap peak memory

    unet_config = _read_json(config_dir / "unet" / "config.json")
    _check_unet_input_channels(parts["unet"], unet_config, path.name)
    unet_weights = _prefer_ema(parts["unet"], parts.pop("ema"))
    logger.info("%s: using the %s UNet weights", path.name, unet_weights)

    unet = _load_unet(parts.pop("unet"), unet_config, config_dir, dtype, path.name)
    vae = _load_vae(parts.pop("vae"), config_dir, dtype, path.name)
    text_encoder = _load_text_encoder(parts.pop("clip"), config_dir, dtype, path.name)
    tokenizer = _load_tokenizer(config_dir)
    scheduler_config = _read_json(config_dir / "scheduler" / "scheduler_config.json")
    return SingleFileComponents(
        tokenizer=tokenizer,
        text_encoder=text_encoder,
        vae=vae,
        unet=unet,
        scheduler_config=scheduler_config,
        unet_weights=unet_weights,
        source=path,
    )


# --------------------------------------------------------------------------------------------
# Reading the file


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint file (a top-level ``state_dict`` is unwrapped); never runs code."""
    import torch

    if not path.exists():
        raise ModelLoadError(f"Model file '{path}' was not found; check the path and try again.")
    if path.is_dir():
        raise ModelLoadError(f"'{path}' is a folder, not a checkpoint file; choose a .safetensors or .ckpt file.")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise ModelLoadError(
            f"'{path.name}' is not a supported model file; choose a .safetensors, .ckpt, .pt or .pth file."
        )
    if suffix in SAFETENSORS_SUFFIXES:
        loaded: Any = _read_safetensors(path)
    else:
        loaded = _read_pickle_checkpoint(path)

    # Lightning/LDM training checkpoints keep the weights under "state_dict" next to bookkeeping.
    while isinstance(loaded, dict) and isinstance(loaded.get("state_dict"), dict):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, dict):
        raise ModelLoadError(
            f"'{path.name}' does not contain a dictionary of model weights; it is not a model checkpoint."
        )
    tensors = {k: v for k, v in loaded.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}
    if not tensors:
        raise ModelLoadError(f"'{path.name}' contains no model weights; it is not a model checkpoint.")
    return tensors


def _read_safetensors(path: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except Exception as exc:  # safetensors raises its own error type, or OSError, for bad files
        raise ModelLoadError(
            f"'{path.name}' is not a valid .safetensors file (it may be damaged or incomplete); download it again."
        ) from exc


def _read_pickle_checkpoint(path: Path) -> Any:
    import torch

    try:
        # weights_only=True: the unpickler only rebuilds tensors and plain containers, so a
        # file that references functions or classes is rejected before anything executes.
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL ([\w.]+)", str(exc))
        what = f" ({found.group(1)})" if found else ""
        raise ModelLoadError(
            f"'{path.name}' was refused because it contains program code{what}, not just weights; "
            "use a .safetensors version of this model instead."
        ) from exc
    except MemoryError as exc:
        raise ModelLoadError(
            f"There is not enough memory to read '{path.name}'; close other programs and try again."
        ) from exc
    except Exception as exc:  # torch raises many types (RuntimeError, KeyError, EOFError) for non-checkpoints
        raise ModelLoadError(
            f"'{path.name}' is not a readable PyTorch checkpoint (it may be damaged or incomplete); "
            "download it again or use a .safetensors file."
        ) from exc


def _split_components(state_dict: dict[str, Any], name: str) -> dict[str, dict[str, Any]]:
    parts: dict[str, dict[str, Any]] = {"unet": {}, "ema": {}, "vae": {}, "clip": {}}
    prefixes = (("unet", UNET_PREFIX), ("ema", EMA_PREFIX), ("vae", VAE_PREFIX), ("clip", CLIP_PREFIX))
    for key, tensor in state_dict.items():
        for part, prefix in prefixes:
            if key.startswith(prefix):
                parts[part][key] = tensor
                break
    if not parts["unet"]:
        raise ModelLoadError(
            f"'{name}' is not a Stable Diffusion checkpoint (it has no 'model.diffusion_model' UNet weights); "
            "choose an InstructPix2Pix checkpoint such as instruct-pix2pix-00-22000.safetensors."
        )
    if not parts["vae"]:
        raise ModelLoadError(
            f"'{name}' has no VAE weights ('first_stage_model'); choose a complete InstructPix2Pix checkpoint."
        )
    if _CLIP_MARKER_KEY not in parts["clip"]:
        raise ModelLoadError(
            f"'{name}' has no CLIP ViT-L/14 text encoder ('cond_stage_model.transformer'), so it is not a "
            "Stable Diffusion 1.x InstructPix2Pix checkpoint."
        )
    return parts


# --------------------------------------------------------------------------------------------
# Checks and EMA


def _check_config_dir(config_dir: Path) -> None:
    missing = [name for name in _CONFIG_FILES if not (config_dir / name).is_file()]
    if missing:
        raise ModelLoadError(
            f"The model config folder '{config_dir}' is incomplete (missing {missing[0]}); reinstall the app "
            "or point to a complete diffusers model folder."
        )


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"The model config '{path}' could not be read; reinstall the app.") from exc


def _check_unet_input_channels(unet_sd: dict[str, Any], unet_config: dict[str, Any], name: str) -> None:
    conv_in = unet_sd.get(_CONV_IN_KEY)
    needed = int(unet_config["in_channels"])
    if conv_in is None or conv_in.ndim != 4:
        raise ModelLoadError(f"'{name}' has an incomplete UNet (no input convolution); it cannot be used.")
    have = int(conv_in.shape[1])
    if have != needed:
        raise ModelLoadError(
            f"'{name}': this checkpoint is not an InstructPix2Pix model "
            f"(UNet has {have} input channels, {needed} needed)."
        )


def ema_key(unet_key: str) -> str:
    """Where LDM keeps the EMA copy of a UNet weight: ``model.a.b.c`` -> ``model_ema.abc``."""
    return EMA_PREFIX + "".join(unet_key.split(".")[1:])


def _prefer_ema(unet_sd: dict[str, Any], ema_sd: dict[str, Any]) -> Literal["ema", "non-ema"]:
    """Swap in the EMA UNet weights (what the model was evaluated with) when all are present."""
    if not ema_sd:
        return "non-ema"
    twins = {key: ema_sd.get(ema_key(key)) for key in unet_sd}
    if any(t is None or t.shape != unet_sd[key].shape for key, t in twins.items()):
        logger.warning("EMA weights are incomplete; using the non-EMA UNet weights")
        return "non-ema"
    unet_sd.update(twins)
    return "ema"


def _expected_shapes(model: Any) -> dict[str, tuple[int, ...]]:
    return {key: tuple(value.shape) for key, value in model.state_dict().items()}


def _meta_model(build: Any) -> Any:
    """Instantiate a model without allocating or initialising weights, to learn its key layout."""
    import torch

    with torch.device("meta"):
        return build()


def _check_layout(component: str, converted: dict[str, Any], expected: dict[str, tuple[int, ...]], name: str) -> None:
    """Refuse weights that would leave parts of the model random or do not fit its shapes."""
    missing = [key for key in expected if key not in converted]
    wrong = [key for key in expected if key in converted and tuple(converted[key].shape) != expected[key]]
    if wrong:
        key = wrong[0]
        raise ModelLoadError(
            f"'{name}' does not match the SD-1.5 InstructPix2Pix architecture ({len(wrong)} {component} weights "
            f"have other shapes, e.g. {key} is {tuple(converted[key].shape)}, {expected[key]} expected)."
        )
    if missing:
        raise ModelLoadError(
            f"'{name}' is missing {len(missing)} {component} weights (e.g. {missing[0]}); "
            "it is incomplete or not an SD-1.5 InstructPix2Pix checkpoint."
        )


# --------------------------------------------------------------------------------------------
# Components: diffusers converts, we check first


def _load_unet(unet_sd: dict[str, Any], config: dict[str, Any], config_dir: Path, dtype: Any, name: str) -> Any:
    from diffusers import UNet2DConditionModel
    from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint

    expected = _expected_shapes(_meta_model(lambda: UNet2DConditionModel.from_config(config)))
    _check_layout("UNet", convert_ldm_unet_checkpoint(unet_sd, dict(config)), expected, name)
    return _guarded(
        name,
        "UNet",
        lambda: UNet2DConditionModel.from_single_file(
            unet_sd, config=str(config_dir), subfolder="unet", local_files_only=True, **_dtype_kwargs(dtype)
        ),
    )


def _load_vae(vae_sd: dict[str, Any], config_dir: Path, dtype: Any, name: str) -> Any:
    from diffusers import AutoencoderKL
    from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint

    config = _read_json(config_dir / "vae" / "config.json")
    expected = _expected_shapes(_meta_model(lambda: AutoencoderKL.from_config(config)))
    _check_layout("VAE", convert_ldm_vae_checkpoint(vae_sd, dict(config)), expected, name)
    return _guarded(
        name,
        "VAE",
        lambda: AutoencoderKL.from_single_file(
            vae_sd, config=str(config_dir), subfolder="vae", local_files_only=True, **_dtype_kwargs(dtype)
        ),
    )


def _load_text_encoder(clip_sd: dict[str, Any], config_dir: Path, dtype: Any, name: str) -> Any:
    from diffusers.loaders.single_file_utils import convert_ldm_clip_checkpoint, create_diffusers_clip_model_from_ldm
    from transformers import CLIPTextConfig, CLIPTextModel

    config = CLIPTextConfig.from_pretrained(config_dir / "text_encoder", local_files_only=True)
    meta = _meta_model(lambda: CLIPTextModel(config))
    converted = convert_ldm_clip_checkpoint(clip_sd)
    if not hasattr(meta, "text_model"):
        # transformers >= 5.6 flattened CLIPTextModel; diffusers strips the same prefix.
        converted = {k.removeprefix("text_model."): v for k, v in converted.items()}
    _check_layout("text-encoder", converted, _expected_shapes(meta), name)
    return _guarded(
        name,
        "text encoder",
        lambda: create_diffusers_clip_model_from_ldm(
            CLIPTextModel,
            clip_sd,
            subfolder="text_encoder",
            config=str(config_dir),
            torch_dtype=dtype,
            local_files_only=True,
        ),
    )


def _load_tokenizer(config_dir: Path) -> Any:
    from transformers import CLIPTokenizer

    try:
        return CLIPTokenizer.from_pretrained(config_dir / "tokenizer", local_files_only=True)
    except Exception as exc:
        raise ModelLoadError(f"The tokenizer in '{config_dir}' could not be loaded; reinstall the app.") from exc


def _dtype_kwargs(dtype: Any) -> dict[str, Any]:
    import torch

    # Models are built in float32 already; passing it anyway only makes diffusers log a
    # misleading "modules that should be kept in float32: []" warning on every load.
    return {} if dtype == torch.float32 else {"torch_dtype": dtype}


def _guarded(name: str, component: str, load: Any) -> Any:
    """Run one diffusers load; anything it raises becomes a one-line ModelLoadError."""
    try:
        return load()
    except ModelLoadError:
        raise
    except MemoryError as exc:
        raise ModelLoadError(
            f"There is not enough memory to load '{name}'; close other programs and try again."
        ) from exc
    except Exception as exc:
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise ModelLoadError(f"The {component} in '{name}' could not be loaded ({detail}).") from exc
