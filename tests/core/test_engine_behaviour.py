"""What the engine promises besides parity: progress, cancel, chains, sizes, memory recovery."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from ip2p_core.engine import CancelToken, EditEngine, GuidanceBranches
from ip2p_core.errors import EditCancelled, InvalidParameterError, OutOfMemoryError
from ip2p_core.params import EditParams, StepProgress


@pytest.fixture(scope="module")
def photo(photos_dir) -> Image.Image:
    return Image.open(photos_dir / "coffee.png").convert("RGB")  # 600x400


def test_progress_every_step_with_preview(tiny_engine, photo):
    seen: list[StepProgress] = []
    tiny_engine.edit(photo, EditParams("make it winter", steps=4, seed=1, resolution=128), progress=seen.append)
    assert [p.step for p in seen] == [1, 2, 3, 4]
    assert all(p.total == 4 for p in seen)
    assert all(isinstance(p.preview, Image.Image) for p in seen)
    # The preview is a latent-sized image (8x smaller than the working size), not a VAE decode.
    assert seen[0].preview.size == (128 // 8, 128 * 400 // 600 // 64 * 64 // 8 or 8)
    assert seen[-1].eta_s == 0


def test_cancel_takes_effect_within_one_step(tiny_engine, photo):
    token = CancelToken()
    steps_done: list[int] = []

    def on_step(p: StepProgress) -> None:
        steps_done.append(p.step)
        if p.step == 2:
            token.cancel()

    with pytest.raises(EditCancelled):
        tiny_engine.edit(photo, EditParams("make it winter", steps=10, seed=1, resolution=128),
                         progress=on_step, cancel=token)
    assert steps_done == [1, 2]


def test_cancel_before_start(tiny_engine, photo):
    token = CancelToken()
    token.cancel()
    with pytest.raises(EditCancelled):
        tiny_engine.edit(photo, EditParams("x", steps=2, resolution=64), cancel=token)


@pytest.mark.parametrize("size", [(600, 400), (300, 451), (256, 256), (1000, 90), (1, 1)])
def test_output_has_the_input_size(tiny_engine, size):
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
    result = tiny_engine.edit(image, EditParams("add snow", steps=1, seed=0, resolution=128))
    assert result.image.size == size
    w, h = result.working_image.size
    assert w % 64 == 0 and h % 64 == 0 and max(w, h) == 128


def test_working_output_size(tiny_engine, photo):
    result = tiny_engine.edit(photo, EditParams("add snow", steps=1, seed=0, resolution=128, output_size="working"))
    assert max(result.image.size) == 128
    assert abs(result.image.width / result.image.height - 1.5) < 0.05


def test_chain_feeds_full_resolution_result(tiny_engine, photo):
    chain = [EditParams("make it winter", steps=2, seed=1, resolution=128),
             EditParams("add snow", steps=2, seed=2, resolution=128)]
    results = tiny_engine.edit_chain(photo, chain)
    assert len(results) == 2
    direct = tiny_engine.edit(results[0].image, chain[1])
    assert np.array_equal(np.asarray(direct.image), np.asarray(results[1].image))
    assert results[1].image.size == photo.size


def test_invalid_params_are_refused(tiny_engine, photo):
    with pytest.raises(InvalidParameterError):
        tiny_engine.edit(photo, EditParams("", steps=2))
    with pytest.raises(InvalidParameterError):
        tiny_engine.edit(photo, EditParams("x", scheduler="nope"))


@pytest.mark.parametrize("scheduler", ["euler_a", "euler", "dpmpp_2m", "ddim", "lms", "pndm", "unipc"])
def test_every_scheduler_runs(tiny_engine, photo, scheduler):
    seen = []
    result = tiny_engine.edit(photo, EditParams("x", steps=3, seed=0, resolution=64, scheduler=scheduler),
                              progress=seen.append)
    # Some schedulers (PLMS) take one extra warm-up evaluation; progress reports the real count.
    assert result.image.size == photo.size and len(seen) == seen[-1].total >= 3
    assert np.isfinite(np.asarray(result.working_image, np.float32)).all()


def test_guidance_branch_weights_match_reference_formula():
    uncond, img, text = 0.3, -1.2, 2.0
    for s_t, s_i in [(7.5, 1.5), (7.5, 1.0), (1.0, 1.0), (0.0, 2.0)]:
        w = GuidanceBranches.from_scales(s_t, s_i)
        reference = uncond + s_t * (text - img) + s_i * (img - uncond)
        assert abs(w.text * text + w.image * img + w.uncond * uncond - reference) < 1e-9
    assert GuidanceBranches.from_scales(7.5, 1.0).active() == ["text", "image"]
    assert GuidanceBranches.from_scales(1.5, 1.5).active() == ["text", "uncond"]


def test_out_of_memory_is_retried_with_savers(tiny_model_dir, photo, monkeypatch):
    engine = EditEngine.load(str(tiny_model_dir), device="cpu")
    unet = engine.components.unet
    real_forward = unet.forward
    failures = {"left": 1}

    def flaky_forward(*args, **kwargs):
        if failures["left"]:
            failures["left"] -= 1
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_forward(*args, **kwargs)

    monkeypatch.setattr(unet, "forward", flaky_forward)
    result = engine.edit(photo, EditParams("x", steps=2, seed=0, resolution=64))
    assert result.image.size == photo.size
    assert engine.savers.attention_slicing and engine.savers.vae_tiling and engine.savers.sequential_branches


def test_persistent_out_of_memory_gives_clear_error(tiny_model_dir, photo, monkeypatch):
    engine = EditEngine.load(str(tiny_model_dir), device="cpu")

    def always_oom(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(engine.components.unet, "forward", always_oom)
    with pytest.raises(OutOfMemoryError, match="lower the working resolution"):
        engine.edit(photo, EditParams("x", steps=2, seed=0, resolution=64))


def test_sequential_branches_give_the_same_result(tiny_model_dir, photo):
    from ip2p_core.memory import MemorySavers

    params = EditParams("make it winter", steps=3, seed=9, resolution=128)
    batched = EditEngine.load(str(tiny_model_dir), device="cpu").edit(photo, params)
    saver = EditEngine.load(str(tiny_model_dir), device="cpu", savers=MemorySavers(sequential_branches=True,
                                                                                     attention_slicing=True))
    sequential = saver.edit(photo, params)
    diff = np.abs(np.asarray(batched.image, np.float32) - np.asarray(sequential.image, np.float32)).mean()
    assert diff < 0.5


def test_memory_report(tiny_engine):
    report = tiny_engine.memory_in_use()
    assert report["vram_used"] is None and report["ram_rss"] > 10_000_000


def test_colour_matching_is_off_by_default_and_recorded(tiny_engine, photo, tmp_path, monkeypatch):
    """The option reaches the transfer (whose effect tests/core/test_transfer.py measures) and the file."""
    import ip2p_core.transfer as transfer
    from ip2p_core.chain import chain_provenance
    from ip2p_core.imageio import save_image
    from ip2p_core.metadata import read_provenance

    seen: list[float] = []
    real = transfer.transfer_edit

    def spy(*args, **kwargs):
        seen.append(kwargs.get("color_match", 0.0))
        return real(*args, **kwargs)

    monkeypatch.setattr(transfer, "transfer_edit", spy)
    params = EditParams("make it winter", steps=2, seed=3, resolution=128)
    tiny_engine.edit(photo, params)
    matched = tiny_engine.edit(photo, params.replace(color_match=0.7))
    assert seen == [0.0, 0.7]
    out = save_image(tmp_path / "m.png", matched.image, provenance=chain_provenance([matched]))
    assert read_provenance(out).chain[0].to_params().color_match == 0.7
    with pytest.raises(InvalidParameterError):
        tiny_engine.edit(photo, params.replace(color_match=1.5))


def test_vae_reference_returns_untouched_photo_exactly(tiny_model_dir, photos_dir, monkeypatch):
    """If the denoiser changes nothing, the delivered photo is the original, VAE softening and all undone."""
    photo = Image.open(photos_dir / "motorcycle_left.png").convert("RGB")  # 741x500: downscaled to work
    engine = EditEngine.load(str(tiny_model_dir), device="cpu", vae_reference=True)
    assert engine.vae_reference
    monkeypatch.setattr(engine, "denoise", lambda instruction, image_latent, params, **kw:
                        image_latent.float() * engine.components.vae.config.scaling_factor)
    result = engine.edit(photo, EditParams("make it winter", steps=1, seed=0, resolution=128))
    diff = np.abs(np.asarray(result.image, np.float32) - np.asarray(photo, np.float32))
    assert diff.mean() <= 1.0, diff.mean()
    # Without the reference the random tiny VAE's output is taken for an edit everywhere.
    plain = EditEngine.load(str(tiny_model_dir), device="cpu", vae_reference=False)
    monkeypatch.setattr(plain, "denoise", lambda instruction, image_latent, params, **kw:
                        image_latent.float() * plain.components.vae.config.scaling_factor)
    blurred = plain.edit(photo, EditParams("make it winter", steps=1, seed=0, resolution=128))
    assert np.abs(np.asarray(blurred.image, np.float32) - np.asarray(photo, np.float32)).mean() > 5 * diff.mean()
    assert EditEngine.load(str(tiny_model_dir), device="cpu").vae_reference is False  # opt-in on CPU
