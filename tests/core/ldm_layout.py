"""Test fixture: write diffusers modules back out in the original LDM/CompVis single-file layout.

``instruct-pix2pix-00-22000.ckpt`` keeps the UNet under ``model.diffusion_model.*`` (openaimodel
``input_blocks``/``middle_block``/``output_blocks``), the VAE under ``first_stage_model.*``
(taming-style ``encoder.down.N.block.M``), the CLIP text model under
``cond_stage_model.transformer.text_model.*`` and EMA copies of the UNet under
``model_ema.<flattened key>``. This module builds that layout from the tiny random model, written
independently of diffusers' converter, so that the loader's conversion is checked against an
outside description of the format rather than against itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

UNET = "model.diffusion_model."
VAE = "first_stage_model."
CLIP = "cond_stage_model.transformer.text_model."

# openaimodel ResBlock names for diffusers' ResnetBlock2D parts.
_UNET_RESNET = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "time_emb_proj": "emb_layers.1",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "conv_shortcut": "skip_connection",
}
# taming AttnBlock names for diffusers' VAE Attention parts.
_VAE_ATTENTION = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}


def _rename_head(key: str, old: str, new: str) -> str:
    assert key.startswith(old + "."), (key, old)
    return new + key[len(old) :]


def _resnet(key_tail: str, table: dict[str, str]) -> str:
    part, _, rest = key_tail.partition(".")
    return f"{table.get(part, part)}.{rest}"


def unet_to_ldm(state_dict: dict[str, torch.Tensor], config: Any) -> dict[str, torch.Tensor]:
    """diffusers ``UNet2DConditionModel`` weights -> ``model.diffusion_model.*`` keys."""
    per_block = int(config["layers_per_block"])
    n_blocks = len(config["block_out_channels"])
    fixed = {
        "conv_in": "input_blocks.0.0",
        "time_embedding.linear_1": "time_embed.0",
        "time_embedding.linear_2": "time_embed.2",
        "conv_norm_out": "out.0",
        "conv_out": "out.2",
        "mid_block.attentions.0": "middle_block.1",
    }
    up_has_attention = {i: any(k.startswith(f"up_blocks.{i}.attentions.") for k in state_dict) for i in range(n_blocks)}
    out: dict[str, torch.Tensor] = {}
    for key, tensor in state_dict.items():
        parts = key.split(".")
        new = None
        for old, ldm in fixed.items():
            if key.startswith(old + "."):
                new = _rename_head(key, old, ldm)
        if new is None and parts[0] == "mid_block" and parts[1] == "resnets":
            index = 0 if parts[2] == "0" else 2
            new = f"middle_block.{index}." + _resnet(".".join(parts[3:]), _UNET_RESNET)
        elif new is None and parts[0] == "down_blocks":
            block, kind, layer = int(parts[1]), parts[2], int(parts[3])
            tail = ".".join(parts[4:])
            if kind == "resnets":
                new = f"input_blocks.{1 + block * (per_block + 1) + layer}.0." + _resnet(tail, _UNET_RESNET)
            elif kind == "attentions":
                new = f"input_blocks.{1 + block * (per_block + 1) + layer}.1.{tail}"
            elif kind == "downsamplers":  # ...downsamplers.0.conv.weight -> input_blocks.N.0.op.weight
                new = f"input_blocks.{(block + 1) * (per_block + 1)}.0.op." + ".".join(parts[5:])
        elif new is None and parts[0] == "up_blocks":
            block, kind, layer = int(parts[1]), parts[2], int(parts[3])
            tail = ".".join(parts[4:])
            if kind == "resnets":
                new = f"output_blocks.{block * (per_block + 1) + layer}.0." + _resnet(tail, _UNET_RESNET)
            elif kind == "attentions":
                new = f"output_blocks.{block * (per_block + 1) + layer}.1.{tail}"
            elif kind == "upsamplers":  # the upsampler follows the attention, if the block has one
                slot = 2 if up_has_attention[block] else 1
                new = f"output_blocks.{block * (per_block + 1) + per_block}.{slot}.conv." + ".".join(parts[5:])
        if new is None:
            raise KeyError(f"no LDM name for UNet key {key}")
        out[UNET + new] = tensor.clone()
    return out


def vae_to_ldm(state_dict: dict[str, torch.Tensor], config: Any) -> dict[str, torch.Tensor]:
    """diffusers ``AutoencoderKL`` weights -> ``first_stage_model.*`` keys."""
    n_blocks = len(config["block_out_channels"])
    out: dict[str, torch.Tensor] = {}
    for key, tensor in state_dict.items():
        parts = key.split(".")
        side = parts[0]  # encoder / decoder / quant_conv / post_quant_conv
        new = None
        value = tensor.clone()
        if side in ("quant_conv", "post_quant_conv") or parts[1] in ("conv_in", "conv_out"):
            new = key
        elif parts[1] == "conv_norm_out":
            new = f"{side}.norm_out." + ".".join(parts[2:])
        elif parts[1] == "mid_block" and parts[2] == "resnets":
            tail = _resnet(".".join(parts[4:]), {"conv_shortcut": "nin_shortcut"})
            new = f"{side}.mid.block_{int(parts[3]) + 1}.{tail}"
        elif parts[1] == "mid_block" and parts[2] == "attentions":
            tail = ".".join(parts[4:])
            for old, ldm in _VAE_ATTENTION.items():
                if tail.startswith(old + "."):
                    tail = ldm + tail[len(old) :]
            new = f"{side}.mid.attn_1.{tail}"
            if value.ndim == 2:  # taming uses 1x1 convolutions where diffusers uses linear layers
                value = value[:, :, None, None]
        elif parts[1] == "down_blocks":
            block, kind = int(parts[2]), parts[3]
            if kind == "resnets":
                tail = _resnet(".".join(parts[5:]), {"conv_shortcut": "nin_shortcut"})
                new = f"encoder.down.{block}.block.{parts[4]}.{tail}"
            else:  # downsamplers.0.conv.*
                new = f"encoder.down.{block}.downsample.conv." + ".".join(parts[6:])
        elif parts[1] == "up_blocks":
            block, kind = n_blocks - 1 - int(parts[2]), parts[3]  # taming numbers decoder levels bottom-up
            if kind == "resnets":
                tail = _resnet(".".join(parts[5:]), {"conv_shortcut": "nin_shortcut"})
                new = f"decoder.up.{block}.block.{parts[4]}.{tail}"
            else:  # upsamplers.0.conv.*
                new = f"decoder.up.{block}.upsample.conv." + ".".join(parts[6:])
        if new is None:
            raise KeyError(f"no LDM name for VAE key {key}")
        out[VAE + new] = value
    return out


def clip_to_ldm(state_dict: dict[str, torch.Tensor], max_positions: int = 77) -> dict[str, torch.Tensor]:
    """transformers ``CLIPTextModel`` weights -> ``cond_stage_model.transformer.text_model.*`` keys."""
    out = {CLIP + key.removeprefix("text_model."): tensor.clone() for key, tensor in state_dict.items()}
    # Checkpoints saved with transformers 4.x also carry this (persistent then) buffer.
    out[CLIP + "embeddings.position_ids"] = torch.arange(max_positions)[None]
    return out


def flat_ema_key(ldm_unet_key: str) -> str:
    """LitEma's name for a UNet weight: drop ``model.`` and every dot."""
    return "model_ema." + ldm_unet_key.removeprefix("model.").replace(".", "")


def pipeline_to_ldm(pipe: Any, *, ema_unet: Any | None = None) -> dict[str, torch.Tensor]:
    """A full LDM-layout state dict of ``pipe``; ``ema_unet``'s weights become the EMA copies."""
    state = unet_to_ldm(pipe.unet.state_dict(), pipe.unet.config)
    state |= vae_to_ldm(pipe.vae.state_dict(), pipe.vae.config)
    state |= clip_to_ldm(pipe.text_encoder.state_dict(), pipe.text_encoder.config.max_position_embeddings)
    # Diffusion-schedule buffers every LDM checkpoint has; the loader must ignore them.
    state["betas"] = torch.linspace(0.00085**0.5, 0.012**0.5, 1000) ** 2
    state["alphas_cumprod"] = torch.cumprod(1 - state["betas"], 0)
    if ema_unet is not None:
        for key, tensor in unet_to_ldm(ema_unet.state_dict(), ema_unet.config).items():
            state[flat_ema_key(key)] = tensor
        state["model_ema.decay"] = torch.tensor(0.9999)
        state["model_ema.num_updates"] = torch.tensor(22000, dtype=torch.int32)
    return state


def write_safetensors(state: dict[str, torch.Tensor], path: Path) -> Path:
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    return path


def write_ckpt(state: dict[str, torch.Tensor], path: Path) -> Path:
    """A Lightning-style checkpoint: weights under ``state_dict`` next to plain bookkeeping."""
    torch.save({"state_dict": state, "global_step": 22000, "epoch": 0}, path)
    return path
