"""Loading InstructPix2Pix from a single LDM-layout checkpoint file, offline and safely."""

from __future__ import annotations

import os
import socket

import pytest
import torch

from ip2p_core.errors import ModelLoadError
from ip2p_core.single_file import SingleFileComponents, default_config_dir, load_single_file
from ip2p_core.tiny_model import TinyModelSpec, build_tiny_pipeline

from .ldm_layout import UNET, pipeline_to_ldm, write_ckpt, write_safetensors


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, tiny_model_dir):
    """The tiny model, its config folder, and LDM single files written from it."""
    root = tmp_path_factory.mktemp("single_file")
    pipe = build_tiny_pipeline()
    ema_twin = build_tiny_pipeline(TinyModelSpec(seed=1))  # same shapes, other weights
    state = pipeline_to_ldm(pipe)
    return {
        "pipe": pipe,
        "ema_twin": ema_twin,
        "config_dir": tiny_model_dir,  # its configs describe the tiny weights (default spec)
        "state": state,
        ".safetensors": write_safetensors(state, root / "tiny.safetensors"),
        ".ckpt": write_ckpt(state, root / "tiny.ckpt"),
        "ema.ckpt": write_ckpt(pipeline_to_ldm(pipe, ema_unet=ema_twin.unet), root / "tiny-ema.ckpt"),
        "root": root,
    }


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the single-file loader tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _unet_out(unet) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    latents = torch.randn(1, 8, 8, 8, generator=gen)
    text = torch.randn(1, 7, unet.config.cross_attention_dim, generator=gen)
    with torch.no_grad():
        return unet(latents, 10, encoder_hidden_states=text).sample


def _vae_out(vae) -> torch.Tensor:
    image = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        latents = vae.encode(image).latent_dist.mean
        return vae.decode(latents).sample


def _text_out(text_encoder, tokenizer) -> torch.Tensor:
    ids = tokenizer(["make it winter"], padding="max_length", max_length=77, return_tensors="pt").input_ids
    with torch.no_grad():
        return text_encoder(ids).last_hidden_state


@pytest.mark.parametrize("kind", [".safetensors", ".ckpt"])
def test_round_trip_gives_the_original_models_outputs(tiny, kind, no_network):
    loaded = load_single_file(tiny[kind], config_dir=tiny["config_dir"])
    pipe = tiny["pipe"]

    assert isinstance(loaded, SingleFileComponents)
    assert loaded.unet_weights == "non-ema"
    assert loaded.source == tiny[kind]
    torch.testing.assert_close(_unet_out(loaded.unet), _unet_out(pipe.unet))
    torch.testing.assert_close(_vae_out(loaded.vae), _vae_out(pipe.vae))
    torch.testing.assert_close(
        _text_out(loaded.text_encoder, loaded.tokenizer), _text_out(pipe.text_encoder, pipe.tokenizer)
    )
    assert loaded.scheduler_config["_class_name"] == "EulerAncestralDiscreteScheduler"


def test_loaded_components_make_a_working_pipeline(tiny):
    from PIL import Image

    pipe = load_single_file(tiny[".safetensors"], config_dir=tiny["config_dir"]).build_pipeline()
    pipe.set_progress_bar_config(disable=True)
    image = Image.new("RGB", (64, 64), (200, 40, 40))
    out = pipe("make it winter", image=image, num_inference_steps=2, generator=torch.Generator().manual_seed(0))
    assert out.images[0].size == (64, 64)


def test_ema_unet_weights_are_preferred(tiny):
    loaded = load_single_file(tiny["ema.ckpt"], config_dir=tiny["config_dir"])

    assert loaded.unet_weights == "ema"
    torch.testing.assert_close(_unet_out(loaded.unet), _unet_out(tiny["ema_twin"].unet))
    assert not torch.allclose(_unet_out(loaded.unet), _unet_out(tiny["pipe"].unet))
    # Only the UNet has EMA copies; the VAE still comes from first_stage_model.
    torch.testing.assert_close(_vae_out(loaded.vae), _vae_out(tiny["pipe"].vae))


def test_half_precision_on_request(tiny):
    loaded = load_single_file(tiny[".safetensors"], config_dir=tiny["config_dir"], torch_dtype=torch.float16)
    for module in (loaded.unet, loaded.vae, loaded.text_encoder):
        assert next(module.parameters()).dtype == torch.float16


class _RunsCommand:
    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def test_pickle_that_references_code_is_refused_and_never_runs(tiny, tmp_path):
    marker = tmp_path / "code-ran"
    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": tiny["state"], "payload": _RunsCommand(f'echo x > "{marker}"')}, evil)

    with pytest.raises(ModelLoadError, match=r"refused.*program code.*system.*safetensors"):
        load_single_file(evil, config_dir=tiny["config_dir"])
    assert not marker.exists()


def test_plain_sd_model_with_four_input_channels_is_refused(tiny, tmp_path):
    from diffusers import UNet2DConditionModel

    pipe = build_tiny_pipeline()
    pipe.unet = UNet2DConditionModel.from_config({**pipe.unet.config, "in_channels": 4})
    path = write_safetensors(pipeline_to_ldm(pipe), tmp_path / "sd15-like.safetensors")

    with pytest.raises(ModelLoadError) as err:
        load_single_file(path, config_dir=tiny["config_dir"])
    assert "this checkpoint is not an InstructPix2Pix model (UNet has 4 input channels, 8 needed)" in str(err.value)


def test_checkpoint_of_another_size_is_refused_against_shipped_configs(tiny):
    # The tiny file has 8 input channels but none of SD-1.5's widths.
    with pytest.raises(ModelLoadError, match=r"does not match the SD-1.5 InstructPix2Pix architecture"):
        load_single_file(tiny[".safetensors"])


def test_incomplete_checkpoint_is_refused_not_left_random(tiny, tmp_path):
    state = dict(tiny["state"])
    del state[UNET + "middle_block.1.proj_in.weight"]
    path = write_safetensors(state, tmp_path / "partial.safetensors")

    with pytest.raises(ModelLoadError, match=r"missing 1 UNet weights"):
        load_single_file(path, config_dir=tiny["config_dir"])


def test_file_without_unet_is_not_a_stable_diffusion_checkpoint(tiny, tmp_path):
    vae_only = {k: v for k, v in tiny["state"].items() if k.startswith("first_stage_model.")}
    path = write_safetensors(vae_only, tmp_path / "vae.safetensors")

    with pytest.raises(ModelLoadError, match=r"not a Stable Diffusion checkpoint"):
        load_single_file(path, config_dir=tiny["config_dir"])


def test_missing_file_is_reported(tmp_path):
    with pytest.raises(ModelLoadError, match=r"was not found"):
        load_single_file(tmp_path / "nowhere.safetensors")


def test_folder_is_not_a_checkpoint_file(tmp_path):
    with pytest.raises(ModelLoadError, match=r"is a folder"):
        load_single_file(tmp_path)


def test_unsupported_file_type_is_reported(tmp_path):
    path = tmp_path / "model.bin.txt"
    path.write_text("weights?")
    with pytest.raises(ModelLoadError, match=r"not a supported model file"):
        load_single_file(path)


@pytest.mark.parametrize("name", ["broken.safetensors", "broken.ckpt", "broken.pth"])
def test_file_that_is_not_a_checkpoint_is_reported(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"this is not a checkpoint at all\n" * 10)
    with pytest.raises(ModelLoadError, match=r"not a (valid \.safetensors file|readable PyTorch checkpoint)"):
        load_single_file(path)


def test_truncated_safetensors_is_reported(tiny, tmp_path):
    data = tiny[".safetensors"].read_bytes()
    path = tmp_path / "cut.safetensors"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError, match=r"damaged or incomplete"):
        load_single_file(path, config_dir=tiny["config_dir"])


def test_incomplete_config_folder_is_reported(tiny, tmp_path):
    with pytest.raises(ModelLoadError, match=r"config folder .* is incomplete"):
        load_single_file(tiny[".safetensors"], config_dir=tmp_path)


def test_error_messages_are_one_line(tiny, tmp_path):
    evil = tmp_path / "evil.pt"
    torch.save({"payload": _RunsCommand("true")}, evil)
    for path in (evil, tmp_path / "missing.ckpt"):
        with pytest.raises(ModelLoadError) as err:
            load_single_file(path, config_dir=tiny["config_dir"])
        assert "\n" not in str(err.value)


# --- the shipped SD-1.5 InstructPix2Pix configs ------------------------------------------------


def test_shipped_configs_describe_sd15_instruct_pix2pix():
    from diffusers import AutoencoderKL, DiffusionPipeline, EulerAncestralDiscreteScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    folder = default_config_dir()
    with torch.device("meta"):
        unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(folder, subfolder="unet"))
        vae = AutoencoderKL.from_config(AutoencoderKL.load_config(folder, subfolder="vae"))
        text = CLIPTextModel(CLIPTextConfig.from_pretrained(folder / "text_encoder", local_files_only=True))

    # Published sizes: SD-1.5 UNet 859,520,964 + 4 extra input channels x 320 x 3x3 for IP2P,
    # SD VAE 83,653,863, CLIP ViT-L/14 text model 123,060,480.
    assert sum(p.numel() for p in unet.parameters()) == 859_520_964 + 4 * 320 * 9
    assert sum(p.numel() for p in vae.parameters()) == 83_653_863
    assert sum(p.numel() for p in text.parameters()) == 123_060_480
    assert tuple(unet.conv_in.weight.shape) == (320, 8, 3, 3)
    assert vae.config.scaling_factor == 0.18215

    scheduler = EulerAncestralDiscreteScheduler.from_pretrained(folder, subfolder="scheduler")
    assert scheduler.config.beta_schedule == "scaled_linear"
    assert scheduler.config.steps_offset == 1
    assert scheduler.config.prediction_type == "epsilon"
    assert float(scheduler.betas[0]) == pytest.approx(0.00085)
    assert float(scheduler.betas[-1]) == pytest.approx(0.012)

    index = DiffusionPipeline.load_config(folder)
    assert index["_class_name"] == "StableDiffusionInstructPix2PixPipeline"
    assert index["safety_checker"] == [None, None] and index["feature_extractor"] == [None, None]
    assert index["requires_safety_checker"] is False
    assert not any(folder.rglob("*.safetensors")) and not any(folder.rglob("*.bin"))  # configs only


def test_default_config_dir_is_inside_the_package():
    folder = default_config_dir()
    assert folder.parts[-3:] == ("ip2p_core", "resources", "sd15_ip2p")
    assert (folder / "model_index.json").is_file()
