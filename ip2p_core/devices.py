"""Device and dtype choice: CUDA (fp16/bf16) or Apple MPS when present, CPU fp32 otherwise."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import InvalidParameterError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
DTYPE_CHOICES = ("auto", "fp32", "fp16", "bf16")


@dataclass(frozen=True)
class DeviceChoice:
    device: str  # "cuda" | "mps" | "cpu"
    dtype_name: str  # "fp32" | "fp16" | "bf16"
    device_name: str  # human readable, e.g. "NVIDIA H200" or "CPU (8 threads)"
    total_memory: int | None = None  # bytes of device memory, None when unknown/shared

    @property
    def torch_device(self) -> Any:
        import torch

        return torch.device(self.device)

    @property
    def torch_dtype(self) -> Any:
        import torch

        return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[self.dtype_name]


def _mps_available(torch: Any) -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def choose_device(device: str = "auto", dtype: str = "auto") -> DeviceChoice:
    """Resolve the user's ``--device``/``--dtype`` wishes against what this machine has."""
    import torch

    if device not in DEVICE_CHOICES:
        raise InvalidParameterError(f"Unknown device '{device}'; choose one of: {', '.join(DEVICE_CHOICES)}.")
    if dtype not in DTYPE_CHOICES:
        raise InvalidParameterError(f"Unknown dtype '{dtype}'; choose one of: {', '.join(DTYPE_CHOICES)}.")

    if device == "auto":
        if torch.cuda.is_available():
            device = "cuda"
        elif _mps_available(torch):
            device = "mps"
        else:
            device = "cpu"
    elif device == "cuda" and not torch.cuda.is_available():
        raise InvalidParameterError(
            "CUDA was requested but this PyTorch build sees no NVIDIA GPU; install a CUDA build of torch or use --device cpu."
        )
    elif device == "mps" and not _mps_available(torch):
        raise InvalidParameterError("Apple MPS was requested but is not available here; use --device cpu.")

    if dtype == "auto":
        # Half precision halves memory and is several times faster on GPUs; SD-1.5 weights are
        # trained to be fp16-safe. CPUs gain nothing from fp16 and most kernels lack it.
        dtype = "fp16" if device in ("cuda", "mps") else "fp32"
    if device == "cpu" and dtype == "fp16":
        raise InvalidParameterError("fp16 is not supported on the CPU; use --dtype fp32 (or bf16).")
    if device == "mps" and dtype == "bf16":
        raise InvalidParameterError("bf16 is not supported on Apple MPS; use --dtype fp16 or fp32.")
    if device == "cuda" and dtype == "bf16" and not torch.cuda.is_bf16_supported():
        raise InvalidParameterError("This GPU does not support bf16; use --dtype fp16.")

    if device == "cuda":
        props = torch.cuda.get_device_properties(0)
        return DeviceChoice("cuda", dtype, props.name, int(props.total_memory))
    if device == "mps":
        return DeviceChoice("mps", dtype, "Apple GPU (MPS)", None)
    return DeviceChoice("cpu", dtype, f"CPU ({torch.get_num_threads()} threads)", None)
