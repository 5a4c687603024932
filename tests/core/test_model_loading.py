"""Each model source loads through the real code: hub cache, local folder, and clear errors."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image

from ip2p_core.engine import EditEngine
from ip2p_core.errors import ModelLoadError
from ip2p_core.model_loading import locate_hub_model, resolve_model_source
from ip2p_core.params import EditParams

from .hub_cache import populate_hub_cache


@pytest.fixture
def small_photo(photos_dir) -> Image.Image:
    return Image.open(photos_dir / "chelsea.png").convert("RGB").resize((96, 64))


def test_hub_id_loads_from_cache_without_network(tiny_model_dir, tmp_path, monkeypatch, small_photo):
    cache = tmp_path / "hf" / "hub"
    populate_hub_cache(cache, "someone/tiny-ip2p", tiny_model_dir)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    engine = EditEngine.load("someone/tiny-ip2p", device="cpu")
    info = engine.describe()
    assert info.model_id == "someone/tiny-ip2p" and info.source_kind == "hub"
    # Hub blobs are named by content hash, so the weights hash is a real one.
    assert len(info.weights_hash) == 16
    result = engine.edit(small_photo, EditParams("make it winter", steps=1, seed=0, resolution=64))
    assert result.image.size == small_photo.size


def test_cached_model_never_touches_network(tiny_model_dir, tmp_path, monkeypatch):
    cache = tmp_path / "hub"
    populate_hub_cache(cache, "someone/tiny-ip2p", tiny_model_dir)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)

    def no_network(*args, **kwargs):
        if not kwargs.get("local_files_only"):
            raise AssertionError("network download attempted for a cached model")
        return real(*args, **kwargs)

    import huggingface_hub

    real = huggingface_hub.snapshot_download
    monkeypatch.setattr(huggingface_hub, "snapshot_download", no_network)
    folder = locate_hub_model("someone/tiny-ip2p", cache_dir=cache)
    assert (folder / "unet" / "config.json").is_file()


def test_uncached_hub_id_offline_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="not in the Hugging Face cache.*offline"):
        EditEngine.load("someone/not-cached", device="cpu")


def test_local_folder_and_same_result_as_hub(tiny_model_dir, tmp_path, monkeypatch, small_photo):
    populate_hub_cache(tmp_path / "hf" / "hub", "someone/tiny-ip2p", tiny_model_dir)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    params = EditParams("turn the car red", steps=2, seed=3, resolution=64)
    from_folder = EditEngine.load(str(tiny_model_dir), device="cpu").edit(small_photo, params)
    from_hub = EditEngine.load("someone/tiny-ip2p", device="cpu").edit(small_photo, params)
    assert np.array_equal(np.asarray(from_folder.image), np.asarray(from_hub.image))


def test_incomplete_folder_is_refused(tiny_model_dir, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(tiny_model_dir, broken)
    shutil.rmtree(broken / "unet")
    with pytest.raises(ModelLoadError, match="missing unet"):
        EditEngine.load(str(broken), device="cpu")


def test_non_ip2p_unet_is_refused(tiny_model_dir, tmp_path):
    import json

    other = tmp_path / "sd"
    shutil.copytree(tiny_model_dir, other)
    config = json.loads((other / "unet" / "config.json").read_text())
    config["in_channels"] = 4
    (other / "unet" / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="not an InstructPix2Pix model"):
        EditEngine.load(str(other), device="cpu")


@pytest.mark.parametrize(
    "spec,kind",
    [("timbrooks/instruct-pix2pix", "hub"), ("owner/name", "hub")],
)
def test_resolve_hub_ids(spec, kind):
    assert resolve_model_source(spec).kind == kind


@pytest.mark.parametrize("spec", ["./missing-folder", "/nope/model.safetensors", "model.ckpt", "a/b/c"])
def test_missing_paths_are_clear_errors(spec):
    with pytest.raises(ModelLoadError):
        resolve_model_source(spec)


def test_unsupported_device_is_clear(tiny_model_dir):
    from ip2p_core.errors import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="CUDA"):
        EditEngine.load(str(tiny_model_dir), device="cuda")
    with pytest.raises(InvalidParameterError, match="fp16"):
        EditEngine.load(str(tiny_model_dir), device="cpu", dtype="fp16")


@pytest.mark.parametrize("suffix", [".safetensors", ".ckpt"])
def test_single_file_engine_matches_folder_engine(tiny_model_dir, tmp_path, small_photo, suffix):
    from ip2p_core.tiny_model import build_tiny_pipeline

    from .ldm_layout import pipeline_to_ldm, write_ckpt, write_safetensors

    state = pipeline_to_ldm(build_tiny_pipeline())
    path = tmp_path / f"tiny-ip2p{suffix}"
    (write_safetensors if suffix == ".safetensors" else write_ckpt)(state, path)
    params = EditParams("make it winter", steps=2, seed=4, resolution=64)
    single = EditEngine.load(str(path), device="cpu", single_file_config=tiny_model_dir)
    assert single.describe().source_kind == "single_file"
    from_file = single.edit(small_photo, params)
    from_folder = EditEngine.load(str(tiny_model_dir), device="cpu").edit(small_photo, params)
    diff = np.abs(np.asarray(from_file.image, np.float32) - np.asarray(from_folder.image, np.float32)).mean()
    assert diff < 0.5


def test_uncached_hub_id_online_downloads_into_the_cache(tiny_model_dir, tmp_path, monkeypatch):
    """Online, an uncached id goes through the core downloader, then loads from what it fetched."""
    from ip2p_core import hub_download

    cache = tmp_path / "hub"
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    fractions: list[float] = []

    def fake_download(repo_id, progress, cancel, plan=None):
        snapshot = populate_hub_cache(cache, repo_id, tiny_model_dir)
        progress(50, 100)
        progress(100, 100)
        return snapshot

    monkeypatch.setattr(hub_download, "download_model", fake_download)
    folder = locate_hub_model("someone/fresh", cache_dir=cache, progress=lambda stage, f: fractions.append(f))
    assert (folder / "unet" / "config.json").is_file()
    assert fractions[-1] == 1.0
