"""Finding and loading InstructPix2Pix weights: a hub id, a diffusers folder or a single file.

Hub models are looked up in the standard Hugging Face cache first (``local_files_only``), so a
cached model never touches the network. Only the components the engine uses are downloaded: the
safety checker and feature extractor are skipped (the reference model declares them optional).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal

from . import DEFAULT_MODEL_ID
from .errors import ModelLoadError

LoadProgress = Callable[[str, float], None]

SINGLE_FILE_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin")
CONFIG_FILES = (
    "model_index.json",
    "scheduler/scheduler_config.json",
    "tokenizer/vocab.json",
    "tokenizer/merges.txt",
    "tokenizer/tokenizer_config.json",
    "tokenizer/special_tokens_map.json",
    "tokenizer/tokenizer.json",
    "text_encoder/config.json",
    "unet/config.json",
    "vae/config.json",
)
WEIGHT_FILES = (
    "text_encoder/model.safetensors",
    "unet/diffusion_pytorch_model.safetensors",
    "vae/diffusion_pytorch_model.safetensors",
)
REQUIRED_FILES = (
    "scheduler/scheduler_config.json",
    "text_encoder/config.json",
    "unet/config.json",
    "vae/config.json",
)


def default_model_spec() -> str:
    return os.environ.get("IP2P_MODEL") or DEFAULT_MODEL_ID


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache, read from the environment now (HF_HUB_CACHE, HF_HOME, XDG)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(xdg) / "huggingface" / "hub"


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class ModelSource:
    kind: Literal["hub", "folder", "single_file"]
    spec: str
    path: Path | None = None


@dataclass
class ModelComponents:
    """The four networks plus what the engine needs to know about where they came from."""

    tokenizer: Any
    text_encoder: Any
    vae: Any
    unet: Any
    scheduler_config: dict[str, Any]
    model_id: str
    source_kind: str
    weights_hash: str

    @classmethod
    def in_memory(cls, modules: Any, scheduler_config: dict[str, Any], model_id: str) -> "ModelComponents":
        """Components of a model built in memory (tests, self-test, benchmarks): any object with
        ``tokenizer``, ``text_encoder``, ``vae`` and ``unet`` attributes, e.g. a diffusers pipeline."""
        return cls(
            tokenizer=modules.tokenizer,
            text_encoder=modules.text_encoder,
            vae=modules.vae,
            unet=modules.unet,
            scheduler_config=dict(scheduler_config),
            model_id=model_id,
            source_kind="memory",
            weights_hash="in-memory",
        )


def _looks_like_path(spec: str) -> bool:
    return (
        os.sep in spec and spec.count("/") != 1
        or spec.startswith((".", "~", "/"))
        or (os.altsep is not None and os.altsep in spec)
        or spec.lower().endswith(SINGLE_FILE_SUFFIXES)
        or (len(spec) > 1 and spec[1] == ":")
    )


def resolve_model_source(spec: str | None) -> ModelSource:
    spec = (spec or default_model_spec()).strip()
    if not spec:
        raise ModelLoadError("No model given: pass --model with a hub id, a model folder or a checkpoint file.")
    path = Path(spec).expanduser()
    if path.is_dir():
        return ModelSource("folder", spec, path.resolve())
    if path.is_file():
        if path.suffix.lower() not in SINGLE_FILE_SUFFIXES:
            raise ModelLoadError(
                f"'{spec}' is not a model checkpoint; expected a folder or a {', '.join(SINGLE_FILE_SUFFIXES)} file."
            )
        return ModelSource("single_file", spec, path.resolve())
    if _looks_like_path(spec):
        raise ModelLoadError(f"Model path '{spec}' does not exist; check the path or pass a hub id like {DEFAULT_MODEL_ID}.")
    parts = spec.split("/")
    if len(parts) != 2 or not all(parts):
        raise ModelLoadError(f"'{spec}' is neither an existing path nor a hub id of the form owner/name.")
    return ModelSource("hub", spec, None)


def _missing_files(folder: Path) -> list[str]:
    missing = [name for name in REQUIRED_FILES if not (folder / name).is_file()]
    tokenizer = folder / "tokenizer"
    has_bpe = (tokenizer / "vocab.json").is_file() and (tokenizer / "merges.txt").is_file()
    if not has_bpe and not (tokenizer / "tokenizer.json").is_file():
        missing.append("tokenizer/vocab.json + merges.txt")
    for component in ("text_encoder", "unet", "vae"):
        sub = folder / component
        if not sub.is_dir() or not any(p.suffix in (".safetensors", ".bin") for p in sub.iterdir()):
            missing.append(f"{component}/ weights")
    return missing


def _hub_patterns() -> list[str]:
    return list(CONFIG_FILES) + list(WEIGHT_FILES)


def locate_hub_model(
    repo_id: str,
    *,
    cache_dir: Path | None = None,
    allow_download: bool = True,
    progress: LoadProgress | None = None,
) -> Path:
    """The snapshot folder of ``repo_id``: from the cache if complete, else downloaded into it."""
    from huggingface_hub import snapshot_download

    cache_dir = cache_dir or hub_cache_dir()
    try:
        folder = Path(
            snapshot_download(repo_id, allow_patterns=_hub_patterns(), local_files_only=True, cache_dir=str(cache_dir))
        )
        if not _missing_files(folder):
            return folder
    except Exception:  # not cached (LocalEntryNotFoundError and friends)
        pass
    if hub_offline() or not allow_download:
        raise ModelLoadError(
            f"The model '{repo_id}' is not in the Hugging Face cache ({cache_dir}) and offline mode is on; "
            "run once with network access (unset HF_HUB_OFFLINE) to download it, or pass --model with a local folder or checkpoint file."
        )
    from .hub_download import download_model

    def on_bytes(done: int, total: int) -> None:
        if progress:
            progress("download", done / total if total else 0.0)

    folder = download_model(repo_id, on_bytes, lambda: False)
    missing = _missing_files(folder)
    if missing:
        raise ModelLoadError(f"The hub model '{repo_id}' lacks {', '.join(missing)}; it is not a diffusers InstructPix2Pix model.")
    if progress:
        progress("download", 1.0)
    return folder


def weights_fingerprint(files: list[Path]) -> str:
    """A cheap content fingerprint of weight files, stable across runs.

    Hub blobs are named by their sha256, so for cached hub models the real content hash is free.
    Elsewhere hashing gigabytes on every start is too slow: size, the first and the last MiB stand in.
    """
    digest = hashlib.sha256()
    for file in sorted(files):
        real = Path(os.path.realpath(file))
        if real.parent.name == "blobs" and len(real.name) == 64:
            digest.update(real.name.encode())
            continue
        size = real.stat().st_size
        digest.update(f"{file.name}:{size}".encode())
        with open(real, "rb") as fh:
            digest.update(fh.read(1 << 20))
            if size > 2 << 20:
                fh.seek(-(1 << 20), os.SEEK_END)
                digest.update(fh.read(1 << 20))
    return digest.hexdigest()[:16]


def _weight_files(folder: Path) -> list[Path]:
    return [p for c in ("text_encoder", "unet", "vae") for p in (folder / c).glob("*") if p.suffix in (".safetensors", ".bin")]


def load_folder(folder: Path, *, torch_dtype: Any, model_id: str, source_kind: str, progress: LoadProgress | None = None) -> ModelComponents:
    """Load a diffusers-layout folder with each library's own loader."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    missing = _missing_files(folder)
    if missing:
        raise ModelLoadError(f"'{folder}' is not a diffusers InstructPix2Pix folder: missing {', '.join(missing)}.")
    unet_config = json.loads((folder / "unet" / "config.json").read_text())
    if unet_config.get("in_channels") != 8:
        raise ModelLoadError(
            f"'{model_id}' is not an InstructPix2Pix model (its UNet has {unet_config.get('in_channels')} input channels, 8 needed)."
        )
    try:
        steps = (
            ("tokenizer", lambda: CLIPTokenizer.from_pretrained(folder / "tokenizer", local_files_only=True)),
            ("text_encoder", lambda: CLIPTextModel.from_pretrained(folder / "text_encoder", torch_dtype=torch_dtype, local_files_only=True)),
            ("vae", lambda: AutoencoderKL.from_pretrained(folder / "vae", torch_dtype=torch_dtype, local_files_only=True)),
            ("unet", lambda: UNet2DConditionModel.from_pretrained(folder / "unet", torch_dtype=torch_dtype, local_files_only=True)),
        )
        loaded: dict[str, Any] = {}
        for index, (name, load) in enumerate(steps):
            if progress:
                progress(f"loading {name}", index / len(steps))
            loaded[name] = load()
    except ModelLoadError:
        raise
    except Exception as exc:
        detail = (str(exc).strip().splitlines() or [""])[0][:200]
        raise ModelLoadError(f"Could not load the model from '{folder}': {type(exc).__name__}: {detail}".rstrip(": ") + ".") from None
    scheduler_config = json.loads((folder / "scheduler" / "scheduler_config.json").read_text())
    return ModelComponents(
        tokenizer=loaded["tokenizer"],
        text_encoder=loaded["text_encoder"],
        vae=loaded["vae"],
        unet=loaded["unet"],
        scheduler_config=scheduler_config,
        model_id=model_id,
        source_kind=source_kind,
        weights_hash=weights_fingerprint(_weight_files(folder)),
    )


def load_single_file_components(path: Path, *, torch_dtype: Any, config_dir: Path | None = None) -> ModelComponents:
    from .single_file import load_single_file

    parts = load_single_file(path, config_dir=config_dir, torch_dtype=torch_dtype)
    return ModelComponents(
        tokenizer=parts.tokenizer,
        text_encoder=parts.text_encoder,
        vae=parts.vae,
        unet=parts.unet,
        scheduler_config=dict(parts.scheduler_config),
        model_id=str(path),
        source_kind="single_file",
        weights_hash=weights_fingerprint([path]),
    )


def load_components(
    spec: str | None,
    *,
    torch_dtype: Any,
    progress: LoadProgress | None = None,
    cache_dir: Path | None = None,
    allow_download: bool = True,
    single_file_config: Path | None = None,
) -> ModelComponents:
    source = resolve_model_source(spec)
    if source.kind == "single_file":
        assert source.path is not None
        if progress:
            progress("converting checkpoint", 0.0)
        return load_single_file_components(source.path, torch_dtype=torch_dtype, config_dir=single_file_config)
    if source.kind == "folder":
        assert source.path is not None
        return load_folder(source.path, torch_dtype=torch_dtype, model_id=str(source.path), source_kind="folder", progress=progress)
    folder = locate_hub_model(source.spec, cache_dir=cache_dir, allow_download=allow_download, progress=progress)
    return load_folder(folder, torch_dtype=torch_dtype, model_id=source.spec, source_kind="hub", progress=progress)
