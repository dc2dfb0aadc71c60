"""python -m localcloud.chaos [--scale full|small] [--keep]

Uploads dozens of files at once on a local cloud of its own, duplicates events, injects
429/503 faults, kills each function at each step and restarts it, sends malformed events,
then checks that nothing was lost, doubled or left silent. Prints one summary line,
`N checks, N passed, N failed`, and exits 1 when any check failed.
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localcloud.chaos", description=__doc__)
    parser.add_argument("--scale", choices=("full", "small"), default="full")
    parser.add_argument(
        "--keep", action="store_true", help="keep the local cloud's folder (logs) afterwards"
    )
    args = parser.parse_args(argv)
    from localcloud.chaos.runner import print_verdicts, run

    verdicts = run(args.scale, keep=args.keep)
    print_verdicts(verdicts)
    return 1 if verdicts.failed else 0


if __name__ == "__main__":
    sys.exit(main())
