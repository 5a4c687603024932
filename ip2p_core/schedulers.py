"""Scheduler names offered to users, mapped onto diffusers' scheduler classes."""

from __future__ import annotations

from typing import Any

from .errors import InvalidParameterError
from .params import SCHEDULER_NAMES

# name -> (diffusers class name, config overrides, label used in A1111-style metadata)
_SCHEDULERS: dict[str, tuple[str, dict[str, Any], str]] = {
    "euler_a": ("EulerAncestralDiscreteScheduler", {}, "Euler a"),
    "euler": ("EulerDiscreteScheduler", {}, "Euler"),
    "dpmpp_2m": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++", "solver_order": 2}, "DPM++ 2M"),
    "ddim": ("DDIMScheduler", {}, "DDIM"),
    "lms": ("LMSDiscreteScheduler", {}, "LMS"),
    "pndm": ("PNDMScheduler", {"skip_prk_steps": True}, "PLMS"),
    "unipc": ("UniPCMultistepScheduler", {}, "UniPC"),
}
assert tuple(_SCHEDULERS) == SCHEDULER_NAMES


def sampler_label(name: str) -> str:
    return _SCHEDULERS[name][2] if name in _SCHEDULERS else name


def sampler_labels() -> dict[str, str]:
    """Our scheduler names -> the sampler labels A1111-style metadata uses."""
    return {name: entry[2] for name, entry in _SCHEDULERS.items()}


def make_scheduler(name: str, base_config: dict[str, Any]) -> Any:
    """A fresh scheduler instance (schedulers hold per-run state, so never share one)."""
    import diffusers

    if name not in _SCHEDULERS:
        raise InvalidParameterError(f"Unknown scheduler '{name}'; choose one of: {', '.join(SCHEDULER_NAMES)}.")
    class_name, overrides, _ = _SCHEDULERS[name]
    cls = getattr(diffusers, class_name)
    config = {k: v for k, v in base_config.items() if not k.startswith("_")}
    config.update(overrides)
    return cls.from_config(config)
