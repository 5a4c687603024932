"""The full SD-1.5-shaped InstructPix2Pix model with random weights, built in memory (no download).

The shapes come from ``ip2p_core/resources/sd15_ip2p/`` (the reference model's own configs) when
that folder is there, else from the inline copies below, so the compute per step is the real
model's. Weights are random: the pictures mean nothing, the timings are realistic.

Filling ~1.1 B parameters with fresh random numbers takes ~15 s on two cores, so each tensor is
filled from one shared block of random numbers (at a per-tensor offset, scaled by 1/sqrt(fan-in)
so activations keep a sane size and nothing overflows): memory-copy speed, a few seconds in all.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RESOURCES = Path(__file__).resolve().parents[1] / "ip2p_core" / "resources" / "sd15_ip2p"

UNET_CONFIG: dict[str, Any] = {
    "act_fn": "silu",
    "attention_head_dim": 8,
    "block_out_channels": [320, 640, 1280, 1280],
    "center_input_sample": False,
    "cross_attention_dim": 768,
    "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    "downsample_padding": 1,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "in_channels": 8,
    "layers_per_block": 2,
    "mid_block_scale_factor": 1,
    "norm_eps": 1e-05,
    "norm_num_groups": 32,
    "out_channels": 4,
    "sample_size": 64,
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
}
VAE_CONFIG: dict[str, Any] = {
    "act_fn": "silu",
    "block_out_channels": [128, 256, 512, 512],
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
    "in_channels": 3,
    "out_channels": 3,
    "latent_channels": 4,
    "layers_per_block": 2,
    "norm_num_groups": 32,
    "sample_size": 512,
    "scaling_factor": 0.18215,
}
TEXT_CONFIG: dict[str, Any] = {
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "max_position_embeddings": 77,
    "vocab_size": 49408,
    "hidden_act": "quick_gelu",
    "projection_dim": 768,
    "bos_token_id": 0,
    "eos_token_id": 2,
    "pad_token_id": 1,
}
SCHEDULER_CONFIG: dict[str, Any] = {
    "_class_name": "EulerAncestralDiscreteScheduler",
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "clip_sample": False,
    "num_train_timesteps": 1000,
    "prediction_type": "epsilon",
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
    "trained_betas": None,
}


@dataclass
class Sd15Model:
    tokenizer: Any
    text_encoder: Any
    vae: Any
    unet: Any
    scheduler_config: dict[str, Any]
    config_source: str  # "ip2p_core/resources/sd15_ip2p" or "inline"
    build_seconds: float

    def parameter_count(self) -> int:
        return sum(p.numel() for m in (self.text_encoder, self.vae, self.unet) for p in m.parameters())


def _read_config(name: str, fallback: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    path = RESOURCES / name
    if path.is_file():
        return json.loads(path.read_text()), True
    return dict(fallback), False


def _fill_random(module: Any, seed: int) -> None:
    """Weights ~ N(0, 1/fan_in) from one shared random block; norms at 1, biases at 0."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    pool_size = 1_000_003  # prime, so the repeat period never lines up with a row length
    pool = torch.randn(pool_size, generator=generator)
    with torch.no_grad():
        for index, (name, param) in enumerate(module.named_parameters()):
            if param.dim() < 2:
                param.fill_(0.0 if name.endswith("bias") else 1.0)
                continue
            std = param[0].numel() ** -0.5
            shift = (index * 7919) % pool_size
            source = torch.cat([pool[shift:], pool[:shift]]) * std
            flat = param.view(-1)
            for start in range(0, flat.numel(), pool_size):
                chunk = flat[start : start + pool_size]
                chunk.copy_(source[: chunk.numel()])


def build_sd15_model(*, dtype: Any = None, device: str = "cpu", seed: int = 0) -> Sd15Model:
    """The three networks at SD-1.5/InstructPix2Pix size plus the real CLIP tokenizer if shipped."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    started = time.perf_counter()
    unet_config, real_unet = _read_config("unet/config.json", UNET_CONFIG)
    vae_config, real_vae = _read_config("vae/config.json", VAE_CONFIG)
    text_config, real_text = _read_config("text_encoder/config.json", TEXT_CONFIG)
    scheduler_config, _ = _read_config("scheduler/scheduler_config.json", SCHEDULER_CONFIG)
    unet_config["in_channels"] = 8

    # Built on the meta device (no memory, no init work), then given real storage and filled.
    with torch.device("meta"):
        unet = UNet2DConditionModel.from_config(unet_config)
        vae = AutoencoderKL.from_config(vae_config)
    unet.to_empty(device="cpu")
    vae.to_empty(device="cpu")
    _fill_random(unet, seed)
    _fill_random(vae, seed + 1)

    text_fields = {k: v for k, v in text_config.items() if not k.startswith("_") and k not in ("architectures", "torch_dtype", "transformers_version")}
    text_encoder = CLIPTextModel(CLIPTextConfig(**text_fields))  # has non-persistent buffers: built normally
    _fill_random(text_encoder, seed + 2)

    tokenizer_dir = RESOURCES / "tokenizer"
    if (tokenizer_dir / "vocab.json").is_file():
        tokenizer = CLIPTokenizer.from_pretrained(tokenizer_dir)
    else:
        import tempfile

        from ip2p_core.tiny_model import write_tiny_tokenizer

        with tempfile.TemporaryDirectory() as tmp:
            tokenizer = CLIPTokenizer.from_pretrained(write_tiny_tokenizer(Path(tmp) / "tokenizer"))

    for module in (unet, vae, text_encoder):
        module.requires_grad_(False)
        module.eval()
        if dtype is not None or device != "cpu":
            module.to(device=device, dtype=dtype)
    real = real_unet and real_vae and real_text
    return Sd15Model(
        tokenizer=tokenizer,
        text_encoder=text_encoder,
        vae=vae,
        unet=unet,
        scheduler_config=scheduler_config,
        config_source="ip2p_core/resources/sd15_ip2p" if real else "inline",
        build_seconds=time.perf_counter() - started,
    )
