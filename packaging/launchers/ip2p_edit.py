"""Frozen entry point of the command-line editor (``ip2p-edit``, console)."""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from ip2p_core.cli import main

    sys.exit(main())
