"""Replaying a chain: the same instructions and settings on another photo (or with new seeds).

``load_chain`` reads a chain from wherever we store one: a project file (the chain to its
cursor), a session folder, or an exported image carrying our provenance (or another tool's
AUTOMATIC1111-style parameters, which give one step).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from PIL import Image

from ..errors import ImageLoadError, InvalidParameterError, ProjectFileError
from ..metadata import read_provenance
from ..params import EditParams, EditResult, StepProgress
from .project import is_project_file, read_manifest
from .store import SessionStore
from .tree import EditTree

ReplayProgress = Callable[[int, StepProgress], None]


def replay_chain(
    engine: Any,
    image: Image.Image,
    chain: list[EditParams],
    *,
    new_seeds: bool = False,
    progress: ReplayProgress | None = None,
    cancel: Any = None,
    on_result: Callable[[int, EditResult], None] | None = None,
    keep_images: bool = True,
) -> list[EditResult]:
    """Run ``chain`` on ``image``, each step on the previous step's result.

    ``new_seeds`` draws a fresh seed for every step (the results' ``params.seed`` say which).
    ``progress(step_index, StepProgress)`` reports each denoising step; ``on_result(index,
    result)`` is called as each step finishes (e.g. to add it to a session at once).
    ``keep_images=False`` drops the full-size image of all but the last result, so a long chain
    on a large photo does not hold every intermediate image in memory. Cancelling raises
    EditCancelled; the steps already finished were passed to ``on_result``.
    """
    if not chain:
        raise InvalidParameterError("There are no edits to replay; choose a project or image that has some.")
    steps = [(p.replace(seed=None) if new_seeds else p).validate() for p in chain]
    current = image if image.mode == "RGB" else image.convert("RGB")
    results: list[EditResult] = []
    for index, params in enumerate(steps):
        step_progress = (lambda p, i=index: progress(i, p)) if progress is not None else None
        result = engine.edit(current, params, progress=step_progress, cancel=cancel)
        if on_result is not None:
            on_result(index, result)
        current = result.image
        if not keep_images and results:
            results[-1].image = None  # the working image (small) is kept for the provenance sizes
        results.append(result)
    return results


def load_chain(path: Path) -> list[EditParams]:
    """The instructions and settings stored in a project, a session folder or an image file."""
    path = Path(path)
    if not path.exists():
        raise ImageLoadError(f"{path} does not exist; give an .ip2p project, a session folder or a result image.")
    if path.is_dir():
        chain = _session_folder_chain(path)
    elif is_project_file(path):
        chain = _manifest_chain(read_manifest(path), path)
    else:
        provenance = read_provenance(path)
        if provenance is None or not provenance.chain:
            raise ProjectFileError(
                f"{path.name} carries no edit instructions; choose a result exported by IP2P Desktop or an .ip2p project."
            )
        chain = [step.to_params() for step in provenance.chain]
    if not chain:
        raise ProjectFileError(f"{path.name} holds no edits to replay (only the original photo).")
    return chain


def _manifest_chain(manifest: dict[str, Any], source: Path) -> list[EditParams]:
    try:
        tree, _ = EditTree.from_dict(manifest)
    except (TypeError, ValueError) as exc:
        raise ProjectFileError(f"The edit history in {source.name} is damaged.") from exc
    return tree.chain(tree.cursor)


def _session_folder_chain(folder: Path) -> list[EditParams]:
    manifest = SessionStore(folder).read_manifest()
    if manifest is None:
        raise ProjectFileError(f"{folder} is not an IP2P session folder, or its history file is damaged.")
    return _manifest_chain(manifest, folder)
