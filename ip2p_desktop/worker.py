"""The background worker that owns the engine.

One ``EngineWorker`` lives in one QThread for the whole session. It loads the model on first need
(or when asked at start-up), keeps it loaded, and runs one edit at a time. The UI never calls it
directly: it sends queued signals (see ``edit_controller.EditController``) and listens to the
worker's signals, which Qt delivers on the UI thread. The one exception is cancellation, which goes
through the job's thread-safe ``CancelToken`` because the worker is busy inside the edit then.

Where the engine runs is the loader's choice. The app's default, ``start_engine_process``, runs it
in a child process (``ip2p_core.engine_process``): this process never imports torch, diffusers or
transformers, whose imports hold the interpreter lock for hundreds of milliseconds and would
freeze the UI thread, and an engine crash costs one edit, not the app. ``load_engine_here`` runs
it on the worker thread itself (tests, where a process per window would cost seconds each).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from ip2p_core.errors import EditCancelled, IP2PError, ModelLoadError

from .jobs import EditJob, EditOutcome, ProgressUpdate

log = logging.getLogger(__name__)

# loader(source, progress, check): progress(stage, fraction) reports the load; check() may be
# called while the loader waits and raises when the load must be abandoned (the app closes).
EngineLoader = Callable[[str, Callable[[str, float], None], Callable[[], None]], Any]

# How often the worker reports memory use while an edit runs (seconds).
_MEMORY_REPORT_INTERVAL = 1.0


def start_engine_process(source: str, progress: Callable[[str, float], None], check: Callable[[], None]) -> Any:
    """Start the edit engine for ``source`` (hub id, folder or checkpoint file) in a child process."""
    from ip2p_core.engine_process import EngineProcess

    return EngineProcess.start(
        source, device="auto", dtype="auto", progress=progress, check=check, log_file=_log_file()
    )


def _log_file() -> str | None:
    """The app's log file, so that the engine process writes its lines there too."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            return handler.baseFilename
    return None


def load_engine_here(source: str, progress: Callable[[str, float], None], check: Callable[[], None]) -> Any:
    """Load the edit engine for ``source`` in this process. Worker thread only.

    (``check`` is not needed here: the loader reports progress often enough.)"""
    import gc

    from ip2p_core.engine import EditEngine  # heavy: torch/diffusers come with it

    try:
        return EditEngine.load(source, device="auto", dtype="auto", progress=progress)
    finally:
        # The import and load leave hundreds of thousands of long-lived objects; a full garbage
        # collection over them holds the GIL, the UI thread's too, for tens of milliseconds.
        # Freezing them (a constant-time move, no traversal) keeps later collections short.
        gc.freeze()


def _to_qimage(image: Any) -> Any:
    from .qimage_convert import pil_to_qimage

    return pil_to_qimage(image)


def _for_display(image: Any) -> Any:
    # Here, not on the UI thread: halving a 24 MP result for the canvas takes tens of ms.
    from .canvas_view import display_pyramid

    return display_pyramid(_to_qimage(image))


class _ShutdownRequested(Exception):
    """Raised from a load progress callback to abandon a model load when the app closes."""


class EngineWorker(QObject):
    modelLoading = Signal(str)  # source
    modelProgress = Signal(str, float)  # stage, fraction 0..1
    modelReady = Signal(object)  # EngineInfo
    modelFailed = Signal(str)  # one-sentence message
    modelUnloaded = Signal(str)  # why: the engine stopped (its process died) and must load again
    editStarted = Signal(int)  # job id
    editProgress = Signal(int, object)  # job id, ProgressUpdate
    editFinished = Signal(int, object)  # job id, EditOutcome
    editFailed = Signal(int, str)  # job id, message
    editCancelled = Signal(int)  # job id
    memoryUsage = Signal(object)  # {"vram_used": bytes | None, "ram_rss": bytes}

    def __init__(self, loader: EngineLoader | None = None) -> None:
        super().__init__()
        self._loader = loader or start_engine_process
        self._engine: Any = None
        self._source = ""
        self._closing = threading.Event()
        self._last_memory_report = 0.0

    # --- called from the UI thread (thread-safe) -------------------------------------------
    def request_shutdown(self) -> None:
        """Make a model load in progress give up at its next progress report; an engine in its
        own process is stopped at once rather than at the end of the running denoising step."""
        self._closing.set()
        abandon = getattr(self._engine, "abandon", None)
        if callable(abandon):
            abandon()

    def release(self) -> None:
        """Unload the engine (and end its process). Only once the worker thread has stopped."""
        self._release_engine()

    # --- slots: run on the worker thread ------------------------------------------------------
    @Slot(str)
    def loadModel(self, source: str) -> None:
        try:
            self._ensure_engine(source)
        except (ModelLoadError, _ShutdownRequested):
            pass  # already reported through modelFailed, or the app is closing

    @Slot(object)
    def runEdit(self, job: EditJob) -> None:
        self.editStarted.emit(job.job_id)
        try:
            job.cancel.raise_if_cancelled()
            engine = self._ensure_engine(job.model_source or self._source)
            job.cancel.raise_if_cancelled()
            image = job.session.image(job.parent_id)
            result = engine.edit(image, job.params, progress=self._progress_reporter(job), cancel=job.cancel)
            # Cancel pressed after the last step still means "no result": check before storing.
            job.cancel.raise_if_cancelled()
            node = job.session.add_result(job.parent_id, result, weights_hash=self._weights_hash())
            outcome = EditOutcome(result=result, node=node, display=_for_display(result.image))
        except (EditCancelled, _ShutdownRequested):
            self.editCancelled.emit(job.job_id)
        except IP2PError as exc:
            self.editFailed.emit(job.job_id, str(exc))
            self._drop_engine_if_dead(str(exc))
        except MemoryError:
            self.editFailed.emit(job.job_id, "Not enough memory for this edit; close other programs or lower the working size.")
        except Exception as exc:  # noqa: BLE001 - any failure must reach the user, not kill the thread
            log.exception("Edit failed")
            self.editFailed.emit(job.job_id, f"The edit failed ({type(exc).__name__}: {exc}); see the log for details.")
        else:
            self.editFinished.emit(job.job_id, outcome)
        finally:
            self._report_memory(force=True)

    # --- internals ----------------------------------------------------------------------------
    def _ensure_engine(self, source: str) -> Any:
        """The loaded engine for ``source``, loading it first if needed.

        Failures are announced with ``modelFailed`` and raised as ModelLoadError.
        """
        if self._engine is not None and source == self._source:
            return self._engine
        if not source:
            message = "No model is set up yet; choose one in Model → Choose Model…."
            self.modelFailed.emit(message)
            raise ModelLoadError(message)
        self._release_engine()
        self.modelLoading.emit(source)

        def check() -> None:
            if self._closing.is_set():
                raise _ShutdownRequested("the app is closing")

        def on_progress(stage: str, fraction: float) -> None:
            check()
            self.modelProgress.emit(str(stage), float(fraction))

        started = time.perf_counter()
        try:
            engine = self._loader(source, on_progress, check)
        except _ShutdownRequested:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure must reach the user, not kill the thread
            if self._closing.is_set():
                # The loader may have wrapped our shutdown request in its own error type.
                raise _ShutdownRequested("the app is closing") from None
            if isinstance(exc, IP2PError):
                self.modelFailed.emit(str(exc))
                raise ModelLoadError(str(exc)) from exc
            log.exception("Model load failed")
            message = f"The model could not be loaded ({type(exc).__name__}: {exc}); see the log for details."
            self.modelFailed.emit(message)
            raise ModelLoadError(message) from exc
        self._engine, self._source = engine, source
        log.info("Model %s loaded in %.1f s", source, time.perf_counter() - started)
        self.modelReady.emit(self._describe())
        self._report_memory(force=True)
        return engine

    def _drop_engine_if_dead(self, why: str) -> None:
        if self._engine is not None and getattr(self._engine, "alive", True) is False:
            log.warning("Engine lost: %s", why)
            self._release_engine()
            self.modelUnloaded.emit(why)

    def _release_engine(self) -> None:
        engine, self._engine, self._source = self._engine, None, ""
        if engine is None:
            return
        close = getattr(engine, "close", None)
        if callable(close):
            close()
        del engine
        import gc

        gc.collect()

    def _describe(self) -> Any:
        describe = getattr(self._engine, "describe", None)
        return describe() if callable(describe) else None

    def _weights_hash(self) -> str:
        info = self._describe()
        return str(getattr(info, "weights_hash", "") or "")

    def _progress_reporter(self, job: EditJob) -> Callable[[Any], None]:
        def report(progress: Any) -> None:
            preview = getattr(progress, "preview", None)
            update = ProgressUpdate(
                step=int(progress.step),
                total=int(progress.total),
                elapsed_s=float(progress.elapsed_s),
                eta_s=float(progress.eta_s),
                # Converted here so the UI thread only swaps a ready image into the canvas.
                preview=_to_qimage(preview) if preview is not None else None,
            )
            self.editProgress.emit(job.job_id, update)
            self._report_memory()

        return report

    def _report_memory(self, force: bool = False) -> None:
        now = time.monotonic()
        if self._engine is None or (not force and now - self._last_memory_report < _MEMORY_REPORT_INTERVAL):
            return
        self._last_memory_report = now
        usage = getattr(self._engine, "memory_in_use", None)
        if not callable(usage):
            return
        try:
            self.memoryUsage.emit(dict(usage()))
        except Exception:  # noqa: BLE001 - a memory figure is never worth failing an edit over
            log.debug("memory_in_use failed", exc_info=True)
