"""Parameters and results of an edit, as plain dataclasses shared by engine, CLI, app and sessions."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import InvalidParameterError

SCHEDULER_NAMES = ("euler_a", "euler", "dpmpp_2m", "ddim", "lms", "pndm", "unipc")
OutputSize = Literal["original", "working"]

MIN_RESOLUTION = 64
MAX_RESOLUTION = 2048
MAX_SEED = 2**32 - 1


def random_seed() -> int:
    # MAX_SEED is 2**32 - 1, so four random bytes cover 0..MAX_SEED exactly, without bias; os.urandom
    # avoids importing `secrets` (and hmac/hashlib with it) on the app's start-up path.
    return int.from_bytes(os.urandom((MAX_SEED.bit_length() + 7) // 8), "big")


@dataclass(frozen=True)
class EditParams:
    """Everything that determines one instruction's result (besides the model and input image)."""

    instruction: str
    steps: int = 20
    text_guidance: float = 7.5
    image_guidance: float = 1.5
    seed: int | None = None
    scheduler: str = "euler_a"
    resolution: int = 512
    negative: str = ""
    output_size: OutputSize = "original"
    color_match: float = 0.0  # 0 = off; up to 1 = remove the model's colour cast toward the source

    def validate(self) -> "EditParams":
        if not isinstance(self.instruction, str) or not self.instruction.strip():
            raise InvalidParameterError("The instruction is empty: type what to change, e.g. \"make it winter\".")
        if not 1 <= int(self.steps) <= 500:
            raise InvalidParameterError(f"Steps must be between 1 and 500 (got {self.steps}).")
        if not 0.0 <= float(self.text_guidance) <= 50.0:
            raise InvalidParameterError(f"Text guidance must be between 0 and 50 (got {self.text_guidance}).")
        if not 0.0 <= float(self.image_guidance) <= 50.0:
            raise InvalidParameterError(f"Image guidance must be between 0 and 50 (got {self.image_guidance}).")
        if self.seed is not None and not 0 <= int(self.seed) <= MAX_SEED:
            raise InvalidParameterError(f"Seed must be between 0 and {MAX_SEED} (got {self.seed}).")
        if self.scheduler not in SCHEDULER_NAMES:
            raise InvalidParameterError(
                f"Unknown scheduler '{self.scheduler}'; choose one of: {', '.join(SCHEDULER_NAMES)}."
            )
        if not MIN_RESOLUTION <= int(self.resolution) <= MAX_RESOLUTION:
            raise InvalidParameterError(
                f"Working resolution must be between {MIN_RESOLUTION} and {MAX_RESOLUTION} px (got {self.resolution})."
            )
        if not 0.0 <= float(self.color_match) <= 1.0:
            raise InvalidParameterError(f"Colour matching strength must be between 0 and 1 (got {self.color_match}).")
        if self.output_size not in ("original", "working"):
            raise InvalidParameterError(f"Output size must be 'original' or 'working' (got {self.output_size}).")
        return self

    def with_seed(self) -> "EditParams":
        """A copy whose seed is concrete (a random one when unset), so the edit can be reproduced."""
        if self.seed is not None:
            return self
        return dataclasses.replace(self, seed=random_seed())

    def replace(self, **changes: Any) -> "EditParams":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "EditParams":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class StepProgress:
    """Reported after every denoising step. ``preview`` is a small RGB PIL image or None."""

    step: int
    total: int
    elapsed_s: float
    preview: Any = None

    @property
    def eta_s(self) -> float:
        if self.step <= 0:
            return float("nan")
        return self.elapsed_s / self.step * (self.total - self.step)


@dataclass
class EditResult:
    """One finished edit.

    ``image`` is what the user gets (original size unless ``params.output_size == "working"``),
    ``working_image`` the raw model output at working resolution. ``params.seed`` is concrete.
    """

    image: Any
    working_image: Any
    params: EditParams
    model_id: str
    timings: dict[str, float] = field(default_factory=dict)
    cache_hits: dict[str, bool] = field(default_factory=dict)
