"""The UI-thread side of the worker: starts its QThread, queues edits and hands them over one at
a time, and shuts everything down cleanly when the window closes.

Everything the worker needs crosses the thread boundary through queued signals; results come
back the same way. Only ``CancelToken.cancel()`` and ``EngineWorker.request_shutdown()`` are
called across threads directly, and both are thread-safe by design.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from .jobs import EditJob, JobQueue
from .worker import EngineLoader, EngineWorker

log = logging.getLogger(__name__)

# prepare(job) fills job.session/job.parent_id just before the job starts; returns a message
# saying why the job cannot run, or None when it is ready.
JobPreparer = Callable[[EditJob], "str | None"]


class EditController(QObject):
    modelLoading = Signal(str)
    modelProgress = Signal(str, float)
    modelReady = Signal(object)
    modelFailed = Signal(str)
    modelUnloaded = Signal(str)  # the engine stopped (e.g. its process died); the next edit reloads
    memoryUsage = Signal(object)
    queueChanged = Signal()
    busyChanged = Signal(bool)
    jobStarted = Signal(object)  # EditJob
    jobProgress = Signal(object, object)  # EditJob, ProgressUpdate
    jobFinished = Signal(object, object)  # EditJob, EditOutcome
    jobFailed = Signal(object, str)  # EditJob, message
    jobCancelled = Signal(object)  # EditJob

    # Requests to the worker (queued across threads because the worker lives in another thread).
    _loadRequested = Signal(str)
    _editRequested = Signal(object)

    def __init__(self, prepare: JobPreparer, loader: EngineLoader | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._prepare = prepare
        self._queue = JobQueue()
        self._current: EditJob | None = None
        self._model_source = ""
        self._model_info: Any = None
        self._model_loading = False
        self._closed = False

        self._thread = QThread()
        self._thread.setObjectName("ip2p-engine")
        self._worker = EngineWorker(loader)
        self._worker.moveToThread(self._thread)
        self._thread.finished.connect(self._worker.deleteLater)

        self._loadRequested.connect(self._worker.loadModel)
        self._editRequested.connect(self._worker.runEdit)
        self._worker.modelLoading.connect(self._on_model_loading)
        self._worker.modelProgress.connect(self.modelProgress)
        self._worker.modelReady.connect(self._on_model_ready)
        self._worker.modelFailed.connect(self._on_model_failed)
        self._worker.modelUnloaded.connect(self._on_model_unloaded)
        self._worker.memoryUsage.connect(self.memoryUsage)
        self._worker.editProgress.connect(self._on_edit_progress)
        self._worker.editFinished.connect(self._on_edit_finished)
        self._worker.editFailed.connect(self._on_edit_failed)
        self._worker.editCancelled.connect(self._on_edit_cancelled)
        self._thread.start()

    # --- state --------------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self._current is not None

    @property
    def current_job(self) -> EditJob | None:
        return self._current

    def queued_jobs(self) -> list[EditJob]:
        return list(self._queue)

    @property
    def model_source(self) -> str:
        return self._model_source

    @property
    def model_info(self) -> Any:
        return self._model_info

    @property
    def model_loading(self) -> bool:
        return self._model_loading

    # --- commands -----------------------------------------------------------------------------
    def set_model_source(self, source: str, load_now: bool = False) -> None:
        """Use ``source`` for the next edits; ``load_now`` loads it in the background right away."""
        if source != self._model_source:
            self._model_info = None
        self._model_source = source
        if load_now and source and not self._closed:
            self._loadRequested.emit(source)

    def submit(self, job: EditJob) -> None:
        """Queue ``job``; it starts as soon as nothing else runs."""
        if self._closed:
            return
        self._queue.push(job)
        self.queueChanged.emit()
        self._dispatch_next()

    def cancel_current(self) -> bool:
        """Ask the running edit to stop (it stops within one denoising step)."""
        if self._current is None:
            return False
        self._current.cancel.cancel()
        return True

    def remove_queued(self, job_id: int) -> bool:
        removed = self._queue.remove(job_id)
        if removed:
            self.queueChanged.emit()
        return removed

    def clear_queue(self) -> None:
        if self._queue.clear():
            self.queueChanged.emit()

    def shutdown(self) -> None:
        """Cancel everything and join the worker thread. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._queue.clear()
        if self._current is not None:
            self._current.cancel.cancel()
        self._worker.request_shutdown()
        self._thread.quit()
        # The worker returns within one denoising step (cancel) or one load stage (shutdown
        # flag), so an unbounded wait is short; a bounded one could leave a running QThread to
        # be destroyed, which aborts the process.
        self._thread.wait()
        # The thread has ended, so the worker can be driven from here: end the engine's process.
        self._worker.release()
        log.info("Engine thread stopped")

    # --- internals ----------------------------------------------------------------------------
    def _dispatch_next(self) -> None:
        while self._current is None and not self._closed:
            job = self._queue.pop()
            if job is None:
                return
            job.model_source = job.model_source or self._model_source
            problem = self._prepare(job)
            if problem:
                self.queueChanged.emit()
                self.jobFailed.emit(job, problem)
                continue
            self._current = job
            self.queueChanged.emit()
            self.busyChanged.emit(True)
            self.jobStarted.emit(job)
            self._editRequested.emit(job)

    def _take_current(self, job_id: int) -> EditJob | None:
        job = self._current
        # After shutdown the window is going away: late reports from the worker are dropped.
        if self._closed or job is None or job.job_id != job_id:
            return None
        self._current = None
        return job

    def _after_job(self) -> None:
        if self._current is None and not self._closed:
            self.busyChanged.emit(False)
        self._dispatch_next()

    @Slot(str)
    def _on_model_loading(self, source: str) -> None:
        if self._closed:
            return
        self._model_loading = True
        self.modelLoading.emit(source)

    @Slot(object)
    def _on_model_ready(self, info: Any) -> None:
        if self._closed:
            return
        self._model_loading = False
        self._model_info = info
        self.modelReady.emit(info)

    @Slot(str)
    def _on_model_failed(self, message: str) -> None:
        if self._closed:
            return
        self._model_loading = False
        self._model_info = None
        self.modelFailed.emit(message)

    @Slot(str)
    def _on_model_unloaded(self, why: str) -> None:
        if self._closed:
            return
        self._model_loading = False
        self._model_info = None
        self.modelUnloaded.emit(why)

    @Slot(int, object)
    def _on_edit_progress(self, job_id: int, progress: Any) -> None:
        if not self._closed and self._current is not None and self._current.job_id == job_id:
            self.jobProgress.emit(self._current, progress)

    @Slot(int, object)
    def _on_edit_finished(self, job_id: int, outcome: Any) -> None:
        # The result is already stored in the session (the worker checked for a late cancel
        # before storing), so it is reported even if Cancel was pressed in the meantime.
        job = self._take_current(job_id)
        if job is None:
            return
        self.jobFinished.emit(job, outcome)
        self._after_job()

    @Slot(int, str)
    def _on_edit_failed(self, job_id: int, message: str) -> None:
        job = self._take_current(job_id)
        if job is None:
            return
        self.jobFailed.emit(job, message)
        self._after_job()

    @Slot(int)
    def _on_edit_cancelled(self, job_id: int) -> None:
        job = self._take_current(job_id)
        if job is None:
            return
        self.jobCancelled.emit(job)
        self._after_job()
