"""An :class:`~ip2p_core.engine.EditEngine` that runs in a child process.

Why a process and not a thread: importing torch and building a model runs long stretches of C
code that hold Python's global interpreter lock (loading ``libtorch``'s shared objects alone
takes a few hundred milliseconds), and any thread of the same process, a UI thread included,
waits for them. A child process has its own interpreter: the app's process never imports torch,
and the thread that drives the child only waits on a pipe, which releases the lock. It also keeps
the app alive when the engine dies (a driver crash, the system's out-of-memory killer): the edit
fails with a clear message and the next one starts a fresh engine.

:class:`EngineProcess` has the engine's methods the app uses (``edit``, ``describe``,
``memory_in_use``, ``close``) with the same arguments, results and errors, so a caller can use
either. Messages on the pipe are ``(kind, payload…)`` tuples pickled by ``multiprocessing``;
images travel as pickled PIL images (raw pixels). Cancelling sets a shared event that the child's
engine checks between denoising steps, as it would a local :class:`CancelToken`.
"""

from __future__ import annotations

import logging
import multiprocessing
import pickle
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .cancel import CancelToken
from .errors import IP2PError
from .library_noise import disable_load_progress_bars, quiet_libraries
from .memory import process_rss_bytes
from .model_loading import LoadProgress
from .params import EditParams, EditResult, StepProgress

log = logging.getLogger(__name__)

ProgressCallback = Callable[[StepProgress], None]

# How often the driving thread looks at the caller's cancel token while it waits for the child.
_CANCEL_POLL_S = 0.02
# How long a child gets to finish after "close" before it is terminated.
_CLOSE_TIMEOUT_S = 5.0


class EngineProcessError(IP2PError):
    """The engine's process stopped unexpectedly (crashed or was killed)."""


@dataclass(frozen=True)
class EngineRequest:
    """What the child needs to build its engine."""

    source: str
    device: str = "auto"
    dtype: str = "auto"
    allow_download: bool = True
    log_file: str | None = None


class EngineProcess:
    """Drives an EditEngine in a child process. Use from one thread at a time."""

    def __init__(self, process: Any, connection: Any, cancel_event: Any) -> None:
        self._process = process
        self._conn = connection
        self._cancel_event = cancel_event
        self._info: Any = None
        self._child_memory: dict[str, int | None] = {"vram_used": None, "ram_rss": None}
        self._closed = False
        self._dead = False

    # ------------------------------------------------------------------ start-up

    @classmethod
    def start(
        cls,
        source: str,
        *,
        device: str = "auto",
        dtype: str = "auto",
        allow_download: bool = True,
        progress: LoadProgress | None = None,
        check: Callable[[], None] | None = None,
        log_file: str | Path | None = None,
    ) -> "EngineProcess":
        """Start a child process and load ``source`` there; returns once the model is ready.

        ``progress(stage, fraction)`` gets the child's load progress, and ``check()`` is called
        every few tens of milliseconds while waiting; if either raises, the child is stopped and
        the exception propagates (that is how a caller abandons a load). Load failures raise the
        child's error (a :class:`ModelLoadError` for a bad source).
        """
        # "spawn" everywhere: forking a process that runs Qt or other threads is unsafe, and it is
        # the only method on Windows and (by default) macOS, so every platform takes one path.
        context = multiprocessing.get_context("spawn")
        parent_end, child_end = context.Pipe(duplex=True)
        cancel_event = context.Event()
        request = EngineRequest(str(source), device, dtype, allow_download, str(log_file) if log_file else None)
        process = context.Process(
            target=serve, args=(child_end, cancel_event, request), name="ip2p-engine", daemon=True
        )
        process.start()
        child_end.close()  # the child holds its own copy; ours must go so EOF is seen if it dies
        engine = cls(process, parent_end, cancel_event)
        try:
            engine._wait_until_loaded(progress, check)
        except BaseException:
            engine.close(timeout=0.0)
            raise
        return engine

    def _wait_until_loaded(self, progress: LoadProgress | None, check: Callable[[], None] | None) -> None:
        while True:
            message = self._next_message("loading the model", check)
            kind = message[0]
            if kind == "load_progress":
                if progress is not None:
                    progress(message[1], message[2])
            elif kind == "ready":
                self._info, self._child_memory = message[1], message[2]
                return
            elif kind == "error":
                raise message[1]
            else:
                raise EngineProcessError(f"The engine process sent an unexpected message ({kind!r}) while loading.")

    # ------------------------------------------------------------------ engine interface

    def describe(self) -> Any:
        return self._info

    @property
    def alive(self) -> bool:
        return not (self._closed or self._dead) and self._process.is_alive()

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def memory_in_use(self) -> dict[str, int | None]:
        """Device memory of the engine; RAM of both processes. Never waits for the child: the
        child reports its figures with every message, and the latest ones are returned."""
        own = process_rss_bytes()
        child = self._child_memory.get("ram_rss")
        rss = (own or 0) + (child or 0) if (own is not None or child is not None) else None
        return {"vram_used": self._child_memory.get("vram_used"), "ram_rss": rss}

    def edit(
        self,
        image: Any,
        params: EditParams,
        *,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> EditResult:
        """Run one edit in the child; same contract as ``EditEngine.edit``."""
        if cancel is not None:
            cancel.raise_if_cancelled()
        self._ensure_open()
        self._cancel_event.clear()
        self._send(("edit", image, params), during="the edit")

        def forward_cancel() -> None:
            if cancel is not None and cancel.cancelled:
                self._cancel_event.set()

        while True:
            message = self._next_message("the edit", forward_cancel)
            kind = message[0]
            if kind == "step":
                self._child_memory = message[2]
                if progress is not None:
                    progress(message[1])
            elif kind == "done":
                self._child_memory = message[2]
                return message[1]
            elif kind == "error":
                raise message[1]
            else:
                raise EngineProcessError(f"The engine process sent an unexpected message ({kind!r}) during an edit.")

    def abandon(self) -> None:
        """Stop the child at once, whatever it is doing. Safe from any thread: the thread that
        drives the engine then sees an :class:`EngineProcessError` instead of waiting for the end
        of a denoising step (which can take many seconds on a CPU)."""
        try:
            if self._process.is_alive():
                self._process.terminate()
        except (ValueError, OSError):
            pass  # already closed

    def close(self, timeout: float = _CLOSE_TIMEOUT_S) -> None:
        """Stop the child: politely, then by force after ``timeout`` seconds. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        try:
            if not self._dead and self._process.is_alive() and timeout > 0:
                self._conn.send(("close",))
                self._process.join(timeout)
        except (OSError, EOFError, ValueError):
            pass  # the child is already gone
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(2.0)
            if self._process.is_alive():
                self._process.kill()
                self._process.join(2.0)
        self._conn.close()
        try:
            self._process.close()
        except ValueError:
            pass  # could not be reaped yet; multiprocessing reaps it later

    def __enter__(self) -> "EngineProcess":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ pipe

    def _ensure_open(self) -> None:
        if self._closed or self._dead:
            raise EngineProcessError("The engine process has stopped; load the model again.")
        self._check_child_alive(during="the edit")

    def _send(self, message: tuple, during: str) -> None:
        try:
            self._conn.send(message)
        except (OSError, EOFError):
            raise self._died(during) from None

    def _next_message(self, during: str, between: Callable[[], None] | None) -> tuple:
        """The child's next message; ``between()`` runs before every short wait for it."""
        while True:
            if between is not None:
                between()
            if self._conn.poll(_CANCEL_POLL_S):
                return self._receive(during)
            self._check_child_alive(during)

    def _receive(self, during: str) -> tuple:
        try:
            return self._conn.recv()
        except (OSError, EOFError):
            raise self._died(during) from None

    def _check_child_alive(self, during: str) -> None:
        if not self._process.is_alive():
            raise self._died(during)

    def _died(self, during: str) -> EngineProcessError:
        self._process.join(1.0)
        code = self._process.exitcode
        if code is not None and code < 0:
            try:
                how = f"was stopped by signal {signal.Signals(-code).name}"
            except ValueError:
                how = f"was stopped by signal {-code}"
        else:
            how = f"exited with code {code}"
        hint = " (often: the system ran out of memory)" if code == -getattr(signal, "SIGKILL", 9) else ""
        self._dead = True
        after = "see the log for details" if self._info is None else "the model will be loaded again for the next edit"
        return EngineProcessError(f"The engine process {how}{hint} during {during}; {after}.")


# ---------------------------------------------------------------------------------------------
# The child's side. Everything below runs in the engine process.


def serve(connection: Any, cancel_event: Any, request: EngineRequest) -> None:
    """Entry point of the engine process: load the model, then answer edits until told to stop
    or until the parent goes away (its end of the pipe closes)."""
    _prepare_child(request)
    from .engine import EditEngine  # torch, diffusers and transformers load here, in this process

    disable_load_progress_bars()

    def send(message: tuple) -> None:
        connection.send(_picklable(message))

    def report_load(stage: str, fraction: float) -> None:
        send(("load_progress", str(stage), float(fraction)))

    try:
        engine = EditEngine.load(
            request.source,
            device=request.device,
            dtype=request.dtype,
            progress=report_load,
            allow_download=request.allow_download,
        )
    except BaseException as exc:  # noqa: BLE001 - every failure must reach the parent (if it is still there)
        if not isinstance(exc, (IP2PError, OSError, EOFError)):
            log.exception("Model load failed in the engine process")
        _send_quietly(send, ("error", exc))
        return
    import gc

    gc.freeze()  # the model's long-lived objects need not be traversed by every collection
    try:
        send(("ready", engine.describe(), engine.memory_in_use()))
        _answer_requests(connection, send, engine, CancelToken(cancel_event))
    except (OSError, EOFError):
        pass  # the parent went away; nobody is left to tell
    finally:
        close = getattr(engine, "close", None)
        if callable(close):
            close()


def _answer_requests(connection: Any, send: Callable[[tuple], None], engine: Any, cancel: CancelToken) -> None:
    while True:
        message = connection.recv()
        kind = message[0]
        if kind == "close":
            return
        if kind != "edit":
            send(("error", EngineProcessError(f"The engine process got an unknown request ({kind!r}).")))
            continue
        _, image, params = message

        def report_step(step: StepProgress) -> None:
            send(("step", step, engine.memory_in_use()))

        try:
            result = engine.edit(image, params, progress=report_step, cancel=cancel)
        except BaseException as exc:  # noqa: BLE001 - report, then keep serving
            if not isinstance(exc, (IP2PError, OSError, EOFError)):
                log.exception("Edit failed in the engine process")
            # If the failure was the parent going away, this send fails too and ends the loop.
            send(("error", exc))
        else:
            send(("done", result, engine.memory_in_use()))


def _send_quietly(send: Callable[[tuple], None], message: tuple) -> None:
    try:
        send(message)
    except (OSError, EOFError):
        pass


def _picklable(message: tuple) -> tuple:
    """Errors whose class cannot cross the pipe are replaced by a RuntimeError that names them."""
    if message[0] != "error":
        return message
    exc = message[1]
    try:
        restored = pickle.loads(pickle.dumps(exc))
        if type(restored) is type(exc):
            return message
    except Exception:  # noqa: BLE001 - any pickling failure means "send a stand-in"
        pass
    return ("error", RuntimeError(f"{type(exc).__name__}: {exc}"))


def _prepare_child(request: EngineRequest) -> None:
    """Streams, signals and logging for a process nobody watches directly."""
    import os

    # Ctrl+C in a terminal reaches the whole process group; the app decides when the engine stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A windowed (frozen) app has no stdout/stderr; libraries that print must not crash.
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))
    # Nobody sees this process's terminal output: load progress comes through the pipe instead.
    quiet_libraries(keep_download_progress=False)
    root = logging.getLogger()
    if request.log_file and not root.handlers:
        try:
            handler = logging.FileHandler(request.log_file, encoding="utf-8")
        except OSError:
            return
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s [engine %(process)d] %(name)s: %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.INFO)
    log.info("Engine process started for %s (device %s, dtype %s)", request.source, request.device, request.dtype)
