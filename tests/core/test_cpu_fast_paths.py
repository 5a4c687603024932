"""The CPU fast paths compute what the plain modules compute, follow weight changes, and are gone
from the modules once the engine's call is over.

They rely on private oneDNN operators of PyTorch; these tests are the check to re-run after every
torch upgrade.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from diffusers.models.upsampling import Upsample2D
from PIL import Image

from ip2p_core.cpu_fast_paths import CpuFastPaths
from ip2p_core.engine import EditEngine
from ip2p_core.params import EditParams

from ..conftest import PHOTOS

PACKING = CpuFastPaths._can_pack(torch)


def _patched(*modules: torch.nn.Module) -> list[str]:
    """Names of submodules whose forward is replaced on the instance."""
    return [name for module in modules for name, m in module.named_modules() if "forward" in m.__dict__]


def _toy_network() -> torch.nn.Module:
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(8, 16, 3, padding=1),
        Upsample2D(16, use_conv=True),
        torch.nn.Conv2d(16, 8, 3, padding=1),
    )
    return net.eval().to(memory_format=torch.channels_last)


@pytest.mark.parametrize("pack", [False, True])
def test_same_results_as_the_plain_modules(pack: bool) -> None:
    if pack and not PACKING:
        pytest.skip("this CPU or torch build has no oneDNN weight packing")
    net = _toy_network()
    x = torch.randn(2, 8, 13, 17).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        plain = net(x)
        fast = CpuFastPaths(net, torch.nn.Identity(), pack=pack)
        assert fast.pack is pack
        with fast.installed():
            assert _patched(net), "nothing was switched to a fast path"
            faster = net(x)
    assert faster.shape == plain.shape == (2, 8, 26, 34)
    assert torch.allclose(faster, plain, atol=1e-5, rtol=1e-5)
    assert not _patched(net)


def test_changed_weights_are_picked_up() -> None:
    net = _toy_network()
    x = torch.randn(1, 8, 9, 9).contiguous(memory_format=torch.channels_last)
    fast = CpuFastPaths(net, torch.nn.Identity(), pack=PACKING)
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.mul_(-0.5)  # in place, as load_state_dict does
        assert fast.prepare(), "stale fast-path weights were not rebuilt"
        expected = net(x)
        with fast.installed():
            got = net(x)
    assert torch.allclose(got, expected, atol=1e-5, rtol=1e-5)


def test_engine_removes_its_fast_paths_after_an_edit(tiny_model_dir) -> None:
    engine = EditEngine.load(str(tiny_model_dir), device="cpu", dtype="fp32")
    unet, vae = engine.components.unet, engine.components.vae
    during: list[int] = []
    photo = Image.open(PHOTOS / "astronaut.png").convert("RGB")
    engine.edit(photo, EditParams("make it winter", steps=2, resolution=64, seed=3),
                progress=lambda _step: during.append(len(_patched(unet, vae))))
    assert during and min(during) > 0, "the edit did not run on the fast paths"
    assert not _patched(unet, vae), "fast paths left installed after the edit"


def test_without_packing_the_engine_gives_the_same_picture(tiny_model_dir) -> None:
    """``prepack_convs=False`` (what the engine picks when RAM is short) changes speed, not pictures."""
    photo = Image.open(PHOTOS / "astronaut.png").convert("RGB").resize((128, 128))
    params = EditParams("make it winter", steps=3, resolution=128, seed=5)
    pictures = []
    for pack in (False, True):
        loaded = EditEngine.load(str(tiny_model_dir), device="cpu", dtype="fp32")
        engine = EditEngine(loaded.components, loaded.choice, prepack_convs=pack)
        assert engine.prepacked_convs is (pack and PACKING)
        pictures.append(np.asarray(engine.edit(photo, params).image, np.float32))
    assert np.abs(pictures[0] - pictures[1]).max() <= 1.0
