"""Memory over a long session: RSS after N chained edits on a large photo vs after the first.

The session keeps node images on disk, so resident memory should stay flat however long the
history grows. This script does what the app does per edit (run the edit on the current image,
record it durably with ``EditSession.add_result``, keep only the current image for display) and
prints RSS after every edit.

    python benchmarks/session_memory.py                  # 20 edits, 24 MP, tiny random model on CPU
    python benchmarks/session_memory.py --synthetic      # no model: fake results (session layer only)
    python benchmarks/session_memory.py --edits 5 --megapixels 12

Target (issue "sessions that never lose work"): RSS after 20 edits within 500 MB of RSS after 1.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from ip2p_core.memory import process_rss_bytes  # noqa: E402
from ip2p_core.params import EditParams, EditResult  # noqa: E402
from ip2p_core.session import EditSession  # noqa: E402

MB = 1 << 20


def photo_like(megapixels: float) -> Image.Image:
    """A large photo with realistic compressibility: a real photo upscaled, plus sensor-like noise."""
    width = int(round((megapixels * 1e6 * 3 / 2) ** 0.5))
    height = int(round(width * 2 / 3))
    shared = REPO_ROOT / ".." / "shared" / "images" / "photos" / "coffee.png"
    if shared.is_file():
        base = Image.open(shared).convert("RGB").resize((width, height), Image.Resampling.BICUBIC)
    else:
        y, x = np.mgrid[0:height, 0:width]
        base = Image.fromarray(np.stack([x * 255 // width, y * 255 // height, (x + y) * 255 // (width + height)], -1).astype(np.uint8))
    noise = np.random.default_rng(0).normal(0, 3, (height, width, 3))
    return Image.fromarray(np.clip(np.asarray(base, dtype=np.float32) + noise, 0, 255).astype(np.uint8))


class SyntheticEngine:
    """Stands in for EditEngine: returns a changed full-size image quickly, no model."""

    def edit(self, image: Image.Image, params: EditParams, **_: object) -> EditResult:
        shift = (params.seed or 0) % 7 + 1
        array = np.asarray(image)
        changed = Image.fromarray(np.roll(array, shift, axis=1) // 2 + array // 2)
        return EditResult(changed, changed.resize((64, 43)), params.with_seed(), "synthetic", {"total": 0.0})

    def describe(self):  # noqa: D401 - mimics EngineInfo
        return type("Info", (), {"weights_hash": "synthetic"})()


def load_engine(work: Path):
    from ip2p_core.engine import EditEngine
    from ip2p_core.tiny_model import write_tiny_model

    return EditEngine.load(str(write_tiny_model(work / "tiny-model")), device="cpu", dtype="fp32")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=20)
    parser.add_argument("--megapixels", type=float, default=24.0)
    parser.add_argument("--synthetic", action="store_true", help="fake results instead of the tiny model")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="ip2p-session-memory-"))
    try:
        engine = SyntheticEngine() if args.synthetic else load_engine(work)
        photo = photo_like(args.megapixels)
        print(f"photo {photo.width}x{photo.height} ({photo.width * photo.height / 1e6:.1f} MP), "
              f"{'synthetic results' if args.synthetic else 'tiny model on CPU'}, {args.edits} chained edits")
        print(f"RSS before the session: {process_rss_bytes() / MB:.0f} MB")

        started = time.perf_counter()
        session = EditSession.create(photo, root=work / "sessions")
        print(f"session created (original saved) in {time.perf_counter() - started:.2f} s")
        weights = engine.describe().weights_hash
        current, parent = photo, session.root_id
        del photo  # the app keeps the displayed image only
        rss: list[float] = []
        print(f"{'edit':>4} {'edit s':>7} {'save s':>7} {'PNG MB':>7} {'RSS MB':>7}")
        for index in range(args.edits):
            t0 = time.perf_counter()
            result = engine.edit(current, EditParams(f"edit number {index}", steps=2, resolution=64, seed=index))
            t1 = time.perf_counter()
            node = session.add_result(parent, result, weights_hash=weights)
            t2 = time.perf_counter()
            current, parent = result.image, node.id
            del result
            session.thumbnail(node.id)  # what the history panel shows
            rss.append(process_rss_bytes() / MB)
            size = (session.folder / node.image_file).stat().st_size / MB
            print(f"{index + 1:>4} {t1 - t0:>7.2f} {t2 - t1:>7.2f} {size:>7.1f} {rss[-1]:>7.0f}")

        t0 = time.perf_counter()
        session.image(session.nodes()[1].id)
        print(f"loading one node image back: {time.perf_counter() - t0:.2f} s")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (MB if sys.platform == "darwin" else 1024)
        growth = rss[-1] - rss[0]
        print(f"RSS after edit 1: {rss[0]:.0f} MB; after edit {args.edits}: {rss[-1]:.0f} MB; "
              f"growth {growth:+.0f} MB (target < 500 MB); peak RSS {peak:.0f} MB")
        later = rss[len(rss) // 2:]
        print(f"RSS over the second half of the session: {min(later):.0f}..{max(later):.0f} MB "
              "(flat: allocator noise, no growth per edit)")
        print("PASS" if growth < 500 else "FAIL")

        project = work / "bench.ip2p"
        t0 = time.perf_counter()
        session.save_project(project)
        t1 = time.perf_counter()
        reopened = EditSession.open_project(project, root=work / "sessions")
        t2 = time.perf_counter()
        print(f"project: {project.stat().st_size / MB:.0f} MB, saved in {t1 - t0:.1f} s, opened in {t2 - t1:.1f} s "
              f"({len(reopened.nodes()) - 1} edits, warnings: {reopened.open_warnings or 'none'})")
        reopened.close()
        session.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()
