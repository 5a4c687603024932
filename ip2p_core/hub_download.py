"""Download an InstructPix2Pix model from the Hugging Face hub into the standard HF cache.

Only the files the diffusers pipeline needs are fetched (configs, tokenizer and one set of
weights per component: safetensors preferred, no half-precision variants, no safety checker and
no duplicate single-file checkpoints), so the default model costs ~5 GB instead of ~20 GB.

Resuming: files that finished earlier are already in the cache and are skipped; a file that was
interrupted starts again (huggingface_hub discards partial files). Everything lands in the
standard cache (``HF_HOME`` respected), where the engine finds it offline later.

Used by the CLI (terminal progress bar) and by the app's model screen, which runs
:func:`download_model` on a QThread and forwards progress.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ip2p_core.errors import IP2PError, ModelLoadError

log = logging.getLogger(__name__)

# Components of StableDiffusionInstructPix2PixPipeline that the engine loads.
PIPELINE_FOLDERS = ("scheduler", "tokenizer", "text_encoder", "unet", "vae", "feature_extractor")
_CONFIG_SUFFIXES = (".json", ".txt")
_WEIGHT_SUFFIXES = (".safetensors", ".bin")
_VARIANT_MARKERS = (".fp16.", ".bf16.", ".non_ema.", ".ema.", ".onnx", ".msgpack", ".ckpt")

ProgressCallback = Callable[[int, int], None]  # (bytes done, bytes total)


class DownloadCancelled(IP2PError):
    """The user stopped the download; finished files stay in the cache for next time."""


@dataclass
class DownloadPlan:
    repo_id: str
    files: list[tuple[str, int]] = field(default_factory=list)  # (path in repo, size in bytes)
    cached: set[str] = field(default_factory=set)  # paths already in the local cache

    @property
    def total_bytes(self) -> int:
        return sum(size for _, size in self.files)

    @property
    def cached_bytes(self) -> int:
        return sum(size for name, size in self.files if name in self.cached)

    @property
    def remaining_bytes(self) -> int:
        return self.total_bytes - self.cached_bytes


def select_model_files(files: Iterable[tuple[str, int | None]]) -> list[tuple[str, int]]:
    """Pick the files a diffusers InstructPix2Pix pipeline needs from a repo listing."""
    listing = [(name, int(size or 0)) for name, size in files]
    chosen: list[tuple[str, int]] = [(n, s) for n, s in listing if n == "model_index.json"]
    for folder in PIPELINE_FOLDERS:
        inside = [(n, s) for n, s in listing if n.startswith(folder + "/") and n.count("/") == 1]
        chosen += [(n, s) for n, s in inside if n.endswith(_CONFIG_SUFFIXES)]
        weights = [(n, s) for n, s in inside if n.endswith(_WEIGHT_SUFFIXES) and not _is_variant(n)]
        safetensors = [(n, s) for n, s in weights if n.endswith(".safetensors")]
        chosen += safetensors or weights
    return chosen


def _is_variant(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return any(marker in base for marker in _VARIANT_MARKERS) or base.endswith(".index.json")


def _offline_message(repo_id: str) -> str:
    return (
        f"Cannot reach the Hugging Face hub to download {repo_id}; connect to the internet and try again, "
        "or copy the model folder from another computer and choose it with “Use a local folder”."
    )


def plan_download(repo_id: str, api: Any = None) -> DownloadPlan:
    """Ask the hub which files to fetch and how big they are (no download yet)."""
    from huggingface_hub import HfApi, try_to_load_from_cache

    from .model_loading import hub_offline

    if hub_offline():
        raise ModelLoadError(_offline_message(repo_id) + " (HF_HUB_OFFLINE is set.)")
    api = api or HfApi()
    try:
        info = api.model_info(repo_id, files_metadata=True, timeout=10)
    except Exception as exc:  # noqa: BLE001 - network stacks raise many types; all mean "not reachable"
        log.info("model_info(%s) failed: %r", repo_id, exc)
        if "404" in str(exc) or "RepositoryNotFound" in type(exc).__name__:
            raise ModelLoadError(f"The hub has no model called {repo_id}; check the name.") from exc
        raise ModelLoadError(_offline_message(repo_id)) from exc
    siblings = [(s.rfilename, getattr(s, "size", None)) for s in (info.siblings or [])]
    files = select_model_files(siblings)
    if not any(name.startswith("unet/") for name, _ in files):
        raise ModelLoadError(f"{repo_id} is not a diffusers InstructPix2Pix model (no unet folder); choose another model.")
    cached = {name for name, _ in files if isinstance(try_to_load_from_cache(repo_id, name), str)}
    return DownloadPlan(repo_id=repo_id, files=files, cached=cached)


def _progress_bar_class(on_bytes: Callable[[int], None], cancel: Callable[[], bool]) -> type:
    """A tqdm class that draws nothing, forwards byte counts and stops the download on cancel."""
    from tqdm import tqdm

    class _Reporter(tqdm):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = True
            kwargs.pop("name", None)
            super().__init__(*args, **kwargs)

        def update(self, n: float | None = 1) -> bool | None:
            if cancel():
                raise DownloadCancelled("The download was stopped; finished files are kept for next time.")
            on_bytes(int(n or 0))
            return None

    return _Reporter


def download_model(
    repo_id: str,
    progress: ProgressCallback,
    cancel: Callable[[], bool] | threading.Event,
    plan: DownloadPlan | None = None,
) -> Path:
    """Download ``repo_id`` into the HF cache and return the local snapshot folder.

    ``progress(done, total)`` is called from the calling thread as bytes arrive; ``cancel()`` (or
    a set Event) stops the download with :class:`DownloadCancelled`. Blocking: run it off the UI
    thread.
    """
    from huggingface_hub import hf_hub_download

    is_cancelled = cancel.is_set if isinstance(cancel, threading.Event) else cancel
    plan = plan or plan_download(repo_id)
    total = plan.total_bytes
    done = plan.cached_bytes
    progress(done, total)

    def on_bytes(count: int) -> None:
        nonlocal done
        done += count
        progress(min(done, total), total)

    bar = _progress_bar_class(on_bytes, is_cancelled)
    snapshot: Path | None = None
    for name, size in plan.files:
        if is_cancelled():
            raise DownloadCancelled("The download was stopped; finished files are kept for next time.")
        if name in plan.cached:
            local = hf_hub_download(repo_id, name, local_files_only=True)
        else:
            before = done
            try:
                local = hf_hub_download(repo_id, name, tqdm_class=bar)
            except DownloadCancelled:
                raise
            except IP2PError:
                raise
            except OSError as exc:
                raise ModelLoadError(f"Could not save the model file {name}: {exc.strerror or exc}; free some disk space and try again.") from exc
            except Exception as exc:  # noqa: BLE001
                log.warning("Download of %s failed: %r", name, exc)
                raise ModelLoadError(_offline_message(repo_id)) from exc
            # Some transfers (e.g. Xet) report coarser progress; settle the count per file.
            done = before + size
            progress(min(done, total), total)
        snapshot = _snapshot_root(Path(local), name)
    if snapshot is None:
        raise ModelLoadError(f"{repo_id} has no files to download; choose another model.")
    return snapshot


def _snapshot_root(local_file: Path, repo_path: str) -> Path:
    root = local_file
    for _ in repo_path.split("/"):
        root = root.parent
    return root


def cached_snapshot(repo_id: str) -> Path | None:
    """The cached folder of ``repo_id`` if it holds a complete-looking pipeline, else None. Offline."""
    from huggingface_hub import try_to_load_from_cache

    index = try_to_load_from_cache(repo_id, "model_index.json")
    if not isinstance(index, str):
        return None
    root = Path(index).parent
    for folder in ("unet", "vae", "text_encoder"):
        sub = root / folder
        if not sub.is_dir() or not any(p.suffix in _WEIGHT_SUFFIXES for p in sub.iterdir()):
            return None
    return root


def format_bytes(count: int) -> str:
    value = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit in ("B", "KB") else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"
