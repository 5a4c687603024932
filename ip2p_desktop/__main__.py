"""``ip2p`` / ``python -m ip2p_desktop``: start the app, or run ``--self-test``."""

from __future__ import annotations

import importlib.util
import sys


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if "--self-test" in args:
        # The self-test module is optional (added by the packaging work); dispatch when present.
        if importlib.util.find_spec("ip2p_desktop.selftest") is not None:
            from . import selftest

            return int(selftest.main() or 0)
        print("This build has no self-test.", file=sys.stderr if sys.stderr else None)
        return 2
    from .app import run

    return run(args)


if __name__ == "__main__":
    sys.exit(main())
