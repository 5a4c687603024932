"""Memory policy: which memory savers to switch on, and how much memory is in use."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, replace
from typing import Any

GIB = 1 << 30


@dataclass(frozen=True)
class MemorySavers:
    attention_slicing: bool = False  # compute attention in slices: less peak VRAM, a bit slower
    vae_tiling: bool = False  # encode/decode the VAE in tiles: flat memory at large sizes
    cpu_offload: bool = False  # keep each network on the CPU until its stage runs
    sequential_branches: bool = False  # run the guidance branches one at a time instead of batched

    @property
    def any(self) -> bool:
        return self.attention_slicing or self.vae_tiling or self.cpu_offload or self.sequential_branches

    def all_on(self) -> "MemorySavers":
        return replace(self, attention_slicing=True, vae_tiling=True, cpu_offload=True, sequential_branches=True)


def estimate_edit_bytes(width: int, height: int, branches: int, weight_bytes: int, half: bool) -> int:
    """A rough upper bound of device memory for one edit (weights plus UNet/VAE activations).

    Activations scale with the latent area and the number of guidance branches batched together;
    the constant is calibrated against SD-1.5 at 512x512 (about 1.5 GiB for 3 branches in fp16).
    """
    latent_area = (width // 8) * (height // 8)
    per_branch = latent_area * 120_000 * (1 if half else 2) // 1000  # ~0.5 GiB per 64x64 branch in fp16
    vae_decode = width * height * 128 * (2 if half else 4)
    return weight_bytes + branches * per_branch + vae_decode


def choose_savers(device: str, free_bytes: int | None, needed_bytes: int, weight_bytes: int) -> MemorySavers:
    if device != "cuda" or free_bytes is None:
        return MemorySavers()
    if needed_bytes <= free_bytes * 0.9:
        return MemorySavers()
    savers = MemorySavers(attention_slicing=True, vae_tiling=True)
    if needed_bytes - weight_bytes > free_bytes * 0.6:
        savers = replace(savers, sequential_branches=True)
    if weight_bytes > free_bytes * 0.7:
        savers = replace(savers, cpu_offload=True)
    return savers


def process_rss_bytes() -> int | None:
    """Current resident set size of this process, or None where it can't be read cheaply."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        pass
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024
    except Exception:
        return None


def module_bytes(module: Any) -> int:
    return sum(p.numel() * p.element_size() for p in module.parameters())
