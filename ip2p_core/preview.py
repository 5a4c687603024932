"""Cheap previews of the denoiser's current estimate: a linear latent->RGB projection, no VAE."""

from __future__ import annotations

from typing import Any

# Least-squares fit of SD-1.x latents (as the sampler sees them, scaled by 0.18215) to RGB in
# [-1, 1]; widely used for live previews. Good enough to see the edit take shape.
SD_LATENT_RGB = (
    (0.298, 0.207, 0.208),
    (0.187, 0.286, 0.173),
    (-0.158, 0.189, 0.264),
    (-0.184, -0.271, -0.473),
)


def latent_preview(latents: Any) -> Any:
    """(1, 4, h, w) latents -> small PIL RGB image of size (w, h)."""
    import torch
    from PIL import Image

    weights = torch.tensor(SD_LATENT_RGB, dtype=torch.float32, device=latents.device)
    rgb = torch.einsum("chw,cr->hwr", latents[0].float(), weights)
    rgb = ((rgb + 1.0) * 127.5).clamp(0, 255).to(torch.uint8).cpu().numpy()
    return Image.fromarray(rgb, "RGB")
