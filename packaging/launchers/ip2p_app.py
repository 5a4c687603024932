"""Frozen entry point of the desktop app (``ip2p``, windowed). Kept trivial on purpose: all logic
lives in ``ip2p_desktop.__main__`` so the frozen and the pip-installed app behave the same."""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()  # torch may spawn helper processes; frozen children need this
    from ip2p_desktop.__main__ import main

    sys.exit(main())
