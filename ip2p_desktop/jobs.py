"""What the UI asks the worker to do: one edit job, and the first-in-first-out queue of them.

Only one job runs at a time (one model on one device); the rest wait in the queue, visible in the
UI, where they can be removed before they start.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ip2p_core.cancel import CancelToken
from ip2p_core.params import EditParams

_job_ids = itertools.count(1)


def next_job_id() -> int:
    return next(_job_ids)


@dataclass
class EditJob:
    """One instruction to apply to a state of an edit session.

    ``parent_id`` is the history state to edit; ``None`` means "whatever state is shown when the
    job starts", so instructions queued while another runs chain onto its result. ``session``
    is filled in when the job is dispatched; the worker reads the parent image from it and
    stores the result in it, so a queued job holds no pixels and the UI thread never encodes or
    decodes a photo.
    """

    params: EditParams
    parent_id: str | None = None
    kind: str = "apply"  # "apply" or "rerun" (same instruction, new seed)
    job_id: int = field(default_factory=next_job_id)
    cancel: CancelToken = field(default_factory=CancelToken)
    session: Any = None
    model_source: str = ""

    @property
    def label(self) -> str:
        text = " ".join(self.params.instruction.split())
        prefix = "Re-run: " if self.kind == "rerun" else ""
        return prefix + (text if len(text) <= 60 else text[:57] + "…")


@dataclass
class ProgressUpdate:
    """One denoising step, ready for display (``preview`` already a QImage, or None)."""

    step: int
    total: int
    elapsed_s: float
    eta_s: float
    preview: Any = None


@dataclass
class EditOutcome:
    """A finished edit, already stored in the session: the engine's result, the new history
    node and the result ready for the canvas (an ImagePyramid built on the worker thread)."""

    result: Any
    node: Any
    display: Any


class JobQueue:
    """FIFO of jobs waiting for the worker."""

    def __init__(self) -> None:
        self._jobs: deque[EditJob] = deque()

    def push(self, job: EditJob) -> None:
        self._jobs.append(job)

    def pop(self) -> EditJob | None:
        return self._jobs.popleft() if self._jobs else None

    def remove(self, job_id: int) -> bool:
        for job in self._jobs:
            if job.job_id == job_id:
                self._jobs.remove(job)
                return True
        return False

    def clear(self) -> list[EditJob]:
        jobs = list(self._jobs)
        self._jobs.clear()
        return jobs

    def __len__(self) -> int:
        return len(self._jobs)

    def __iter__(self) -> Iterator[EditJob]:
        return iter(list(self._jobs))
