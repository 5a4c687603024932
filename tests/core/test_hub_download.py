"""Model download: which files, the size before starting, progress, stop and resume (no network:
the hub client is replaced by a fake that writes files into a temporary HF cache)."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from ip2p_core.errors import ModelLoadError
from ip2p_core import hub_download as download
from ip2p_core.hub_download import DownloadCancelled, DownloadPlan, download_model, format_bytes, select_model_files

# The layout of timbrooks/instruct-pix2pix (sizes rounded), including files we must skip.
HUB_LISTING = [
    (".gitattributes", 1_500),
    ("README.md", 3_000),
    ("instruct-pix2pix-00-22000.ckpt", 7_700_000_000),
    ("instruct-pix2pix-00-22000.safetensors", 7_700_000_000),
    ("model_index.json", 600),
    ("feature_extractor/preprocessor_config.json", 500),
    ("safety_checker/config.json", 4_700),
    ("safety_checker/model.safetensors", 1_200_000_000),
    ("scheduler/scheduler_config.json", 500),
    ("text_encoder/config.json", 600),
    ("text_encoder/model.safetensors", 492_000_000),
    ("text_encoder/pytorch_model.bin", 492_000_000),
    ("tokenizer/merges.txt", 525_000),
    ("tokenizer/special_tokens_map.json", 500),
    ("tokenizer/tokenizer_config.json", 800),
    ("tokenizer/vocab.json", 1_060_000),
    ("unet/config.json", 1_000),
    ("unet/diffusion_pytorch_model.bin", 3_440_000_000),
    ("unet/diffusion_pytorch_model.safetensors", 3_440_000_000),
    ("unet/diffusion_pytorch_model.fp16.safetensors", 1_720_000_000),
    ("vae/config.json", 600),
    ("vae/diffusion_pytorch_model.bin", 335_000_000),
    ("vae/diffusion_pytorch_model.safetensors", 335_000_000),
]


def test_selects_one_weight_file_per_component_and_skips_extras() -> None:
    names = [name for name, _ in select_model_files(HUB_LISTING)]
    assert "model_index.json" in names
    assert "unet/diffusion_pytorch_model.safetensors" in names
    assert "text_encoder/model.safetensors" in names and "vae/diffusion_pytorch_model.safetensors" in names
    assert not any(name.endswith(".bin") or ".fp16." in name for name in names)
    assert not any(name.startswith("safety_checker/") or name.endswith(".ckpt") for name in names)
    assert "instruct-pix2pix-00-22000.safetensors" not in names
    assert {"tokenizer/vocab.json", "tokenizer/merges.txt", "scheduler/scheduler_config.json"} <= set(names)
    total = sum(size for _, size in select_model_files(HUB_LISTING))
    assert 4.2e9 < total < 4.4e9, format_bytes(total)


def test_bin_weights_are_used_when_there_is_no_safetensors() -> None:
    listing = [("model_index.json", 1), ("unet/config.json", 1), ("unet/diffusion_pytorch_model.bin", 10)]
    assert ("unet/diffusion_pytorch_model.bin", 10) in select_model_files(listing)


class FakeHub:
    """hf_hub_download stand-in: 'downloads' by writing the file in chunks through tqdm_class."""

    def __init__(self, cache: Path, sizes: dict[str, int]) -> None:
        self.cache, self.sizes, self.fetched = cache, sizes, []

    def path(self, name: str) -> Path:
        return self.cache / "snapshots" / "abc" / name

    def __call__(self, repo_id: str, filename: str, *, tqdm_class=None, local_files_only: bool = False, **_: object) -> str:
        target = self.path(filename)
        if local_files_only:
            assert target.exists()
            return str(target)
        self.fetched.append(filename)
        size = self.sizes[filename]
        bar = tqdm_class(total=size, unit="B", unit_scale=True, desc=filename, initial=0)
        with bar:
            for _ in range(4):
                bar.update(size // 4)  # raises DownloadCancelled when stopped
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"x")
        return str(target)


@pytest.fixture
def fake_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeHub:
    import huggingface_hub

    files = select_model_files(HUB_LISTING)
    hub = FakeHub(tmp_path / "hub", dict(files))
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", hub)
    return hub


def test_download_reports_progress_and_returns_the_snapshot(fake_hub: FakeHub) -> None:
    plan = DownloadPlan("timbrooks/instruct-pix2pix", select_model_files(HUB_LISTING))
    seen: list[tuple[int, int]] = []
    folder = download_model(plan.repo_id, lambda done, total: seen.append((done, total)), threading.Event(), plan=plan)
    assert folder == fake_hub.cache / "snapshots" / "abc"
    assert seen[0] == (0, plan.total_bytes) and seen[-1] == (plan.total_bytes, plan.total_bytes)
    assert all(a[0] <= b[0] for a, b in zip(seen, seen[1:])), "progress never goes backwards"
    assert len(fake_hub.fetched) == len(plan.files)


def test_stop_then_resume_skips_finished_files(fake_hub: FakeHub) -> None:
    files = select_model_files(HUB_LISTING)
    plan = DownloadPlan("timbrooks/instruct-pix2pix", files)
    stop = threading.Event()

    def progress(done: int, total: int) -> None:
        if done > 1_000_000_000:  # somewhere inside the UNet weights
            stop.set()

    with pytest.raises(DownloadCancelled):
        download_model(plan.repo_id, progress, stop, plan=plan)
    finished = {name for name, _ in files if fake_hub.path(name).exists()}
    assert finished and "unet/diffusion_pytorch_model.safetensors" not in finished

    fake_hub.fetched.clear()
    resumed = DownloadPlan(plan.repo_id, files, cached=finished)
    assert resumed.remaining_bytes < plan.total_bytes
    seen: list[int] = []
    download_model(plan.repo_id, lambda done, total: seen.append(done), threading.Event(), plan=resumed)
    assert seen[0] == resumed.cached_bytes, "resume starts from what is already there"
    assert set(fake_hub.fetched) == {name for name, _ in files} - finished


def test_offline_plan_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ModelLoadError) as info:
        download.plan_download("timbrooks/instruct-pix2pix")  # HF_HUB_OFFLINE=1 in tests
    message = str(info.value)
    assert "timbrooks/instruct-pix2pix" in message and "local folder" in message


def test_unreachable_hub_is_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    class Unreachable:
        def model_info(self, *args: object, **kwargs: object) -> None:
            raise ConnectionError("Name or service not known")

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    with pytest.raises(ModelLoadError) as info:
        download.plan_download("timbrooks/instruct-pix2pix", api=Unreachable())
    assert "Cannot reach the Hugging Face hub" in str(info.value)


def test_plan_counts_cached_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import huggingface_hub

    info = SimpleNamespace(siblings=[SimpleNamespace(rfilename=n, size=s) for n, s in HUB_LISTING])
    api = SimpleNamespace(model_info=lambda *a, **k: info)
    cached = {"model_index.json", "unet/config.json"}
    monkeypatch.setattr(huggingface_hub, "try_to_load_from_cache",
                        lambda repo, name, **k: str(tmp_path / name) if name in cached else None)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    plan = download.plan_download("timbrooks/instruct-pix2pix", api=api)
    assert plan.cached == cached
    assert plan.remaining_bytes == plan.total_bytes - 600 - 1_000


def test_format_bytes() -> None:
    assert format_bytes(4_300_000_000) == "4.3 GB"
    assert format_bytes(523_000_000) == "523.0 MB"
    assert format_bytes(900) == "900 B"
