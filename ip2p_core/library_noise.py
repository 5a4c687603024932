"""Keep the libraries' own chatter (warnings, load progress bars) off the user's terminal."""

from __future__ import annotations

import logging
import os
import warnings


def quiet_libraries(*, keep_download_progress: bool = True) -> None:
    """Call before importing torch/diffusers/transformers; --debug skips it."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if not keep_download_progress:
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module=r"(torch|diffusers|transformers|accelerate)\b")
    for name in ("transformers", "diffusers", "accelerate", "huggingface_hub"):
        logging.getLogger(name).setLevel(logging.ERROR)


def disable_load_progress_bars() -> None:
    """Per-weight-file 'Loading weights' bars: noise for users, and a crash risk without stderr."""
    try:
        from transformers.utils import logging as tlog

        tlog.disable_progress_bar()
        tlog.set_verbosity_error()
    except Exception:
        pass
    try:
        from diffusers.utils import logging as dlog

        dlog.disable_progress_bar()
        dlog.set_verbosity_error()
    except Exception:
        pass
