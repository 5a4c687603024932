"""``ip2p --self-test``: prove in seconds that this installation can edit a photo.

Meant for the packaged (frozen) app above all: it touches every layer a real edit needs (Qt and its
plugins, torch, diffusers, transformers' tokenizer, the engine, image decoding, bundled resources)
without downloading anything. A tiny random-weight model is built in memory, a 2-step edit runs on
the bundled sample photo, and the result is checked. Prints one line; exit code 0 means it works.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

log = logging.getLogger(__name__)

SELF_TEST_FLAG = "--self-test"
SAMPLE_IMAGE = "sample.jpg"
EDIT_STEPS = 2
WORKING_RESOLUTION = 256
_SEED = 1234
_INSTRUCTION = "make it winter"


class SelfTestFailure(Exception):
    """One stage of the self-test failed; the message names the stage and the reason."""


@dataclass(frozen=True)
class SelfTestResult:
    working_size: tuple[int, int]
    output_size: tuple[int, int]
    steps: int
    edit_seconds: float
    total_seconds: float
    device: str
    dtype: str

    def summary(self) -> str:
        w, h = self.working_size
        return (
            f"self-test passed: {self.steps}-step edit {w}x{h} in {self.edit_seconds:.1f} s "
            f"({self.device}, {self.dtype}; {self.total_seconds:.1f} s in all)"
        )


class _Stage:
    """Names the step that is running, so a failure says where it happened in one line."""

    def __init__(self) -> None:
        self.name = "start"

    def __call__(self, name: str) -> None:
        self.name = name
        log.debug("self-test: %s", name)


def _prepare_process() -> None:
    # Never reach the network, never need a display: this must pass on a headless build machine
    # and on a laptop in airplane mode alike.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    from ip2p_core.library_noise import quiet_libraries

    quiet_libraries(keep_download_progress=False)
    # A windowed build has no stdout/stderr: the log file is then the only place the result can be
    # read, and progress bars and warnings need a sink instead of crashing on None.
    from .logging_setup import ensure_std_streams, setup_logging

    if sys.stdout is None or sys.stderr is None:
        setup_logging()
    ensure_std_streams()


def _qt_application() -> Any:
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        # Offscreen even on a desktop: the self-test shows nothing, and it must work over SSH.
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        app = QApplication([sys.argv[0] if sys.argv else "ip2p"])
    return app


def _check_qt_resources() -> None:
    """The app icon decodes, which proves Qt found its image plugins and our bundled resources."""
    from PySide6.QtGui import QImage

    from ip2p_core.resource_paths import package_resource

    icon = package_resource("ip2p_desktop", "ip2p.png")
    if not icon.is_file():
        raise SelfTestFailure(f"the app icon is missing ({icon})")
    if QImage(str(icon)).isNull():
        raise SelfTestFailure(f"Qt could not decode the app icon ({icon}); its image plugins are missing")


def _tiny_engine(device: str) -> Any:
    from ip2p_core.devices import choose_device
    from ip2p_core.engine import EditEngine
    from ip2p_core.model_loading import ModelComponents
    from ip2p_core.tiny_model import SCHEDULER_CONFIG, build_tiny_pipeline

    choice = choose_device(device, "auto")
    pipe = build_tiny_pipeline()
    for module in (pipe.text_encoder, pipe.vae, pipe.unet):
        module.to(dtype=choice.torch_dtype)  # exercise the precision real edits use on this device
    components = ModelComponents.in_memory(pipe, SCHEDULER_CONFIG, "tiny random-weight model (self-test)")
    return EditEngine(components, choice)


class _FiniteWatch:
    """Forward hooks that note any non-finite number leaving the UNet or the VAE decoder.

    The decoded picture is clamped and rounded to 8 bits, which would hide NaNs as black pixels.
    """

    def __init__(self, modules: dict[str, Any]) -> None:
        self.bad: list[str] = []
        self.calls = 0
        self._handles = [m.register_forward_hook(self._hook(name)) for name, m in modules.items()]

    def _hook(self, name: str) -> Callable[..., None]:
        def check(_module: Any, _inputs: Any, output: Any) -> None:
            import torch

            tensor = output[0] if isinstance(output, (tuple, list)) else getattr(output, "sample", output)
            self.calls += 1
            if isinstance(tensor, torch.Tensor) and not bool(torch.isfinite(tensor).all()):
                self.bad.append(name)

        return check

    def close(self) -> None:
        for handle in self._handles:
            handle.remove()


def _check_output(result: Any, input_size: tuple[int, int]) -> None:
    import numpy as np

    if result.image.size != input_size:
        raise SelfTestFailure(f"the result is {result.image.size[0]}x{result.image.size[1]}, not the input's {input_size[0]}x{input_size[1]}")
    working = np.asarray(result.working_image.convert("RGB"))
    if working.min() == working.max():
        raise SelfTestFailure("the edited image is a single flat colour")
    if result.image.mode != "RGB":
        raise SelfTestFailure(f"the result has mode {result.image.mode}, not RGB")


def _check_qt_conversion(image: Any) -> None:
    from .qimage_convert import pil_to_qimage

    qimage = pil_to_qimage(image)
    if qimage.isNull() or (qimage.width(), qimage.height()) != image.size:
        raise SelfTestFailure("the result could not be converted for display")


def run_self_test(device: str = "auto") -> SelfTestResult:
    """Run every stage; raises SelfTestFailure with a one-line reason."""
    started = time.perf_counter()
    stage = _Stage()
    try:
        stage("preparing the process")
        _prepare_process()
        stage("starting Qt")
        _qt_application()
        _check_qt_resources()
        stage("importing the engine")
        from ip2p_core.imageio import load_image
        from ip2p_core.params import EditParams
        from ip2p_core.resource_paths import resource_path

        stage("building the tiny model")
        engine = _tiny_engine(device)
        info = engine.describe()
        stage("loading the sample photo")
        sample = load_image(resource_path(SAMPLE_IMAGE)).rgb
        stage("editing")
        watch = _FiniteWatch({"UNet": engine.components.unet, "VAE decoder": engine.components.vae.decoder})
        steps_seen: list[int] = []
        params = EditParams(_INSTRUCTION, steps=EDIT_STEPS, resolution=WORKING_RESOLUTION, seed=_SEED)
        edit_started = time.perf_counter()
        try:
            result = engine.edit(sample, params, progress=lambda p: steps_seen.append(p.step))
        finally:
            watch.close()
        edit_seconds = time.perf_counter() - edit_started
        stage("checking the result")
        if watch.bad:
            raise SelfTestFailure(f"the {watch.bad[0]} produced NaN or infinite values")
        if steps_seen != list(range(1, EDIT_STEPS + 1)):
            raise SelfTestFailure(f"progress reported steps {steps_seen}, expected 1..{EDIT_STEPS}")
        _check_output(result, sample.size)
        _check_qt_conversion(result.image)
    except SelfTestFailure as exc:
        raise SelfTestFailure(f"{stage.name}: {exc}") from None
    except Exception as exc:  # any library failure: one line naming the stage
        from ip2p_core.errors import IP2PError

        first = str(exc).splitlines()[0][:200] if str(exc) else ""
        if isinstance(exc, IP2PError):  # already one sentence written for people
            raise SelfTestFailure(f"{stage.name}: {first}") from None
        if _logging_configured():
            log.exception("self-test failed while %s", stage.name)  # the traceback, for the log file only
        raise SelfTestFailure(f"{stage.name}: {type(exc).__name__}: {first}".rstrip(": ")) from None
    return SelfTestResult(
        working_size=result.working_image.size,
        output_size=result.image.size,
        steps=EDIT_STEPS,
        edit_seconds=edit_seconds,
        total_seconds=time.perf_counter() - started,
        device=info.device,
        dtype=info.dtype,
    )


def _device_from_argv(argv: Sequence[str]) -> str:
    # Accepts "--device X" / "--device=X" among whatever else the app's command line holds.
    for index, arg in enumerate(argv):
        if arg.startswith("--device="):
            return arg.split("=", 1)[1]
        if arg == "--device" and index + 1 < len(argv):
            return argv[index + 1]
    return os.environ.get("IP2P_SELFTEST_DEVICE", "auto")


def _logging_configured() -> bool:
    # Without handlers, logging's last resort would print a second copy of our line to stderr.
    return bool(logging.getLogger().handlers)


def _say(line: str, *, error: bool = False) -> None:
    # Printed for terminals, logged for windowed builds (whose only output is the log file).
    if _logging_configured():
        (log.error if error else log.info)(line)
    stream = sys.stderr if error else sys.stdout
    if stream is not None:
        try:
            print(line, file=stream, flush=True)
        except (OSError, ValueError):
            pass  # a closed pipe must not turn a pass into a failure


def main(argv: Sequence[str] | None = None) -> int:
    """Entry of ``ip2p --self-test [--device cpu|cuda|mps]``. Returns the process exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        result = run_self_test(_device_from_argv(args))
    except SelfTestFailure as exc:
        _say(f"self-test failed at {exc}", error=True)
        return 1
    _say(result.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
