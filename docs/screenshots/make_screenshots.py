"""Regenerate the README screenshots of the desktop app (offscreen, no GPU, no model download).

    python docs/screenshots/make_screenshots.py [--out docs/screenshots]

The app is the real one; only the engine is a stand-in. Real InstructPix2Pix weights cannot be
fetched on the machines that build this project, and the tiny random-weight test model paints
noise, so a small "demo engine" imitates a few instructions with ordinary image filters (cool
colours and snow for "winter", warm light for "golden hour", ...) and reports step-by-step
previews the way the real engine does. Everything else — worker thread, queue, session, history,
canvas, compare views, status bar — runs exactly as in the app.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
PHOTOS = (REPO / ".." / "shared" / "images" / "photos").resolve()

from PIL import Image, ImageEnhance, ImageFilter, ImageOps  # noqa: E402

from ip2p_core.params import EditParams, EditResult, StepProgress  # noqa: E402


@dataclass(frozen=True)
class DemoInfo:
    model_id: str = "timbrooks/instruct-pix2pix"
    device: str = "cpu"
    dtype: str = "fp32"
    device_name: str = "stand-in renderer for screenshots"
    weights_hash: str = "demo"


def _winter(img: Image.Image, seed: int) -> Image.Image:
    cool = ImageEnhance.Color(img).enhance(0.45)
    cool = Image.blend(cool, Image.new("RGB", img.size, (178, 202, 232)), 0.22)
    cool = ImageEnhance.Brightness(cool).enhance(1.08)
    snow = Image.new("L", img.size, 0)
    rng = random.Random(seed)
    pixels = snow.load()
    for _ in range(img.width * img.height // 90):
        x, y = rng.randrange(img.width), rng.randrange(img.height)
        pixels[x, y] = rng.randrange(150, 256)
    snow = snow.filter(ImageFilter.GaussianBlur(0.7))
    return Image.composite(Image.new("RGB", img.size, (250, 252, 255)), cool, snow)


def _golden(img: Image.Image, seed: int) -> Image.Image:
    warm = Image.blend(img, Image.new("RGB", img.size, (255, 176, 96)), 0.2)
    warm = ImageEnhance.Contrast(warm).enhance(1.08)
    return ImageEnhance.Color(warm).enhance(1.15)


def _watercolor(img: Image.Image, seed: int) -> Image.Image:
    soft = img.filter(ImageFilter.ModeFilter(5)).filter(ImageFilter.SMOOTH_MORE)
    soft = ImageEnhance.Color(soft).enhance(1.25)
    edges = ImageOps.invert(img.convert("L").filter(ImageFilter.FIND_EDGES)).convert("RGB")
    return Image.blend(soft, ImageEnhance.Contrast(edges).enhance(0.6), 0.18)


def _night(img: Image.Image, seed: int) -> Image.Image:
    dark = ImageEnhance.Brightness(img).enhance(0.42)
    return Image.blend(dark, Image.new("RGB", img.size, (20, 34, 78)), 0.3)


STYLES = (("winter", _winter), ("snow", _winter), ("golden", _golden), ("sunset", _golden),
          ("watercolor", _watercolor), ("painting", _watercolor), ("night", _night))


class DemoEngine:
    """Implements the engine calls the worker makes: edit(), describe(), memory_in_use()."""

    def __init__(self, hold: threading.Event | None = None, hold_at_step: int = 0) -> None:
        self.hold, self.hold_at_step = hold, hold_at_step
        self.reached_hold = threading.Event()

    def describe(self) -> DemoInfo:
        return DemoInfo()

    def memory_in_use(self) -> dict:
        return {"vram_used": None, "ram_rss": 1_350_000_000}

    def edit(self, image, params: EditParams, progress=None, cancel=None) -> EditResult:
        params = params.with_seed()
        style = next((fn for word, fn in STYLES if word in params.instruction.lower()), _golden)
        target = style(image.convert("RGB"), params.seed or 0)
        small = target.copy()
        small.thumbnail((160, 160))
        noise = Image.effect_noise(small.size, 40).convert("RGB").filter(ImageFilter.GaussianBlur(1.2))
        started = time.perf_counter()
        for step in range(1, params.steps + 1):
            if cancel is not None:
                cancel.raise_if_cancelled()
            time.sleep(0.02)
            # Like a latent preview: soft colour blobs that sharpen as denoising goes on.
            blurred = small.filter(ImageFilter.GaussianBlur(5 * (1 - step / params.steps)))
            preview = Image.blend(noise, blurred, min(1.0, 0.45 + 0.55 * step / params.steps))
            if progress is not None:
                progress(StepProgress(step, params.steps, time.perf_counter() - started + step * 0.9, preview))
            if self.hold is not None and step == self.hold_at_step:
                self.reached_hold.set()
                self.hold.wait()
        working = target.copy()
        working.thumbnail((params.resolution, params.resolution))
        return EditResult(image=target, working_image=working, params=params, model_id=DemoInfo.model_id,
                          timings={"total": params.steps * 0.9})


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="ip2p-shots-"))

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication, QMessageBox

    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(scratch / "settings"))
    app = QApplication([])
    QMessageBox.question = staticmethod(lambda *a, **k: QMessageBox.StandardButton.Discard)

    from ip2p_desktop.main_window import MainWindow
    from ip2p_desktop.settings import AppSettings
    from ip2p_desktop.theme import apply_theme

    apply_theme(app)
    hold = threading.Event()
    engine = DemoEngine()
    window = MainWindow(AppSettings(), model_source="timbrooks/instruct-pix2pix", sessions_root=scratch / "sessions",
                        engine_loader=lambda source, progress: engine, first_run_checks=False)
    window.resize(1440, 900)
    window.show()

    def pump(seconds: float = 0.3) -> None:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            app.processEvents()
            time.sleep(0.005)

    def until(condition, timeout: float = 30.0) -> None:
        end = time.perf_counter() + timeout
        while not condition():
            if time.perf_counter() > end:
                raise TimeoutError("the app did not get there in time")
            app.processEvents()
            time.sleep(0.005)

    def apply(instruction: str, seed: int) -> None:
        window.controls.instruction.setPlainText(instruction)
        window.controls.seed_random.setChecked(False)
        window.controls.seed.setText(str(seed))
        count = window.document.session.n_edits
        window.apply_instruction()
        until(lambda: window.document.session.n_edits == count + 1 and not window.controller.busy)
        pump(0.4)

    def shot(name: str) -> None:
        pump(0.3)
        window.grab().save(str(out / name))
        print("wrote", out / name)

    window.open_path(PHOTOS / "motorcycle_left.png")
    until(lambda: window.document is not None)
    window.controls.reset_to_defaults()
    apply("make it winter", 1234)
    apply("add falling snow", 987)
    window.controls.instruction.setPlainText("")
    window.canvas.fit_to_window()
    shot("main_window.png")

    window.set_view_mode("split")
    window.canvas.set_divider_position(0.5)
    shot("split_view.png")
    window.set_view_mode("single")

    # Branch from the first edit, then a second branch from the original.
    first = window.document.session.children(window.document.session.root_id)[0].id
    window.show_node(first)
    pump()
    apply("make it golden hour light", 4242)
    window.show_node(window.document.session.root_id)
    pump()
    apply("make it look like a watercolor painting", 77)
    window.show_node(window.document.session.children(first)[0].id)
    pump()
    shot("branched_history.png")

    # Mid-edit: hold the stand-in engine at step 12 of 20 with one more instruction queued.
    engine.hold, engine.hold_at_step = hold, 12
    window.controls.instruction.setPlainText("make it golden hour light")
    window.controls.seed.setText("5150")
    window.apply_instruction()
    until(engine.reached_hold.is_set)
    window.controls.instruction.setPlainText("add warm street lights")
    window.apply_instruction()
    pump(0.5)
    shot("editing.png")
    hold.set()
    until(lambda: not window.controller.busy and not window.controller.queued_jobs())
    window.shutdown()
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
