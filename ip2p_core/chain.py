"""Turning finished edits into the provenance chain that travels with the output file."""

from __future__ import annotations

from typing import Iterable

from .metadata import ChainStep, Provenance
from .params import EditResult


def chain_provenance(results: Iterable[EditResult], *, prior: Provenance | None = None, weights_hash: str = "") -> Provenance:
    """The provenance of the last result: an earlier chain the input carried, then these steps."""
    steps = list(prior.chain) if prior is not None else []
    for result in results:
        width, height = result.working_image.size
        steps.append(
            ChainStep.from_params(result.params, width, height, result.model_id, weights_hash=weights_hash or None)
        )
    return Provenance(chain=steps)
