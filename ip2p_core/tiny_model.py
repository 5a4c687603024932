"""Tiny random-weight InstructPix2Pix models with the real layout.

Used by the test-suite, ``ip2p --self-test`` and the benchmarks: the same diffusers/transformers
classes as ``timbrooks/instruct-pix2pix`` (8-channel UNet, SD VAE with 8x downsampling, CLIP text
encoder, Euler-ancestral scheduler), only with small configs and a small byte-level BPE vocab, so
the real loading code can be exercised offline in seconds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .clip_bpe import bytes_to_unicode

SCHEDULER_CONFIG: dict[str, Any] = {
    "_class_name": "EulerAncestralDiscreteScheduler",
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "num_train_timesteps": 1000,
    "prediction_type": "epsilon",
    "steps_offset": 1,
    "timestep_spacing": "leading",
    "trained_betas": None,
}

# Words the tiny vocab merges into whole tokens, so typical instructions tokenize like real ones.
_TINY_WORDS = ("make", "it", "winter", "turn", "the", "red", "car", "into", "a", "painting", "add", "snow")


@dataclass(frozen=True)
class TinyModelSpec:
    """Sizes of the tiny model. The defaults keep a 64x64 edit well under a second on a CPU."""

    unet_channels: tuple[int, ...] = (32, 64)
    vae_channels: tuple[int, ...] = (16, 16, 32, 32)  # four blocks: 8x downsampling, as in SD
    text_hidden: int = 32
    text_layers: int = 2
    seed: int = 0


def tiny_vocab_and_merges() -> tuple[dict[str, int], list[str]]:
    """A small CLIP-style BPE vocab: every byte (plain and end-of-word) plus a few whole words."""
    symbols = list(bytes_to_unicode().values())
    vocab_list = symbols + [s + "</w>" for s in symbols]
    merges: list[str] = []
    for word in _TINY_WORDS:
        parts = list(word[:-1]) + [word[-1] + "</w>"]
        while len(parts) > 1:
            pair = f"{parts[0]} {parts[1]}"
            merged = parts[0] + parts[1]
            if pair not in merges:
                merges.append(pair)
                vocab_list.append(merged)
            parts = [merged] + parts[2:]
    vocab_list += ["<|startoftext|>", "<|endoftext|>"]
    vocab: dict[str, int] = {}
    for token in vocab_list:
        vocab.setdefault(token, len(vocab))
    return vocab, merges


def write_tiny_tokenizer(folder: Path) -> Path:
    """Write vocab.json/merges.txt (+ configs) that transformers' CLIPTokenizer loads."""
    folder.mkdir(parents=True, exist_ok=True)
    vocab, merges = tiny_vocab_and_merges()
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "tokenizer_class": "CLIPTokenizer",
                "model_max_length": 77,
                "bos_token": "<|startoftext|>",
                "eos_token": "<|endoftext|>",
                "unk_token": "<|endoftext|>",
                "pad_token": "<|endoftext|>",
                "do_lower_case": True,
            }
        ),
        encoding="utf-8",
    )
    (folder / "special_tokens_map.json").write_text(
        json.dumps(
            {
                "bos_token": "<|startoftext|>",
                "eos_token": "<|endoftext|>",
                "unk_token": "<|endoftext|>",
                "pad_token": "<|endoftext|>",
            }
        ),
        encoding="utf-8",
    )
    return folder


def build_tiny_pipeline(spec: TinyModelSpec = TinyModelSpec()):
    """An in-memory ``StableDiffusionInstructPix2PixPipeline`` with random weights (fp32, CPU)."""
    import tempfile

    import torch
    from diffusers import (
        AutoencoderKL,
        EulerAncestralDiscreteScheduler,
        StableDiffusionInstructPix2PixPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = CLIPTokenizer.from_pretrained(write_tiny_tokenizer(Path(tmp) / "tokenizer"))
    vocab_size = len(tokenizer.get_vocab())

    torch.manual_seed(spec.seed)
    unet = UNet2DConditionModel(
        sample_size=32,
        in_channels=8,
        out_channels=4,
        block_out_channels=spec.unet_channels,
        layers_per_block=1,
        down_block_types=("DownBlock2D",) + ("CrossAttnDownBlock2D",) * (len(spec.unet_channels) - 1),
        up_block_types=("CrossAttnUpBlock2D",) * (len(spec.unet_channels) - 1) + ("UpBlock2D",),
        cross_attention_dim=spec.text_hidden,
        attention_head_dim=8,
        norm_num_groups=8,
    )
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        block_out_channels=spec.vae_channels,
        down_block_types=("DownEncoderBlock2D",) * len(spec.vae_channels),
        up_block_types=("UpDecoderBlock2D",) * len(spec.vae_channels),
        layers_per_block=1,
        norm_num_groups=8,
        sample_size=64,
        scaling_factor=0.18215,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=vocab_size,
            hidden_size=spec.text_hidden,
            intermediate_size=2 * spec.text_hidden,
            num_hidden_layers=spec.text_layers,
            num_attention_heads=4,
            max_position_embeddings=77,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            projection_dim=spec.text_hidden,
            hidden_act="quick_gelu",
        )
    )
    scheduler = EulerAncestralDiscreteScheduler.from_config(SCHEDULER_CONFIG)
    pipe = StableDiffusionInstructPix2PixPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def write_tiny_model(folder: Path, spec: TinyModelSpec = TinyModelSpec()) -> Path:
    """Save a tiny model in the diffusers folder layout (safetensors), as the hub model has it."""
    import shutil

    folder = Path(folder)
    build_tiny_pipeline(spec).save_pretrained(folder, safe_serialization=True)
    # transformers 5 saves only tokenizer.json; the hub model ships vocab.json + merges.txt.
    shutil.rmtree(folder / "tokenizer")
    write_tiny_tokenizer(folder / "tokenizer")
    return folder
