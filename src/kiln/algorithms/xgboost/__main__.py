"""`python -m kiln.algorithms.xgboost train`: the entry point the training service runs."""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "train"
    if command == "train":
        from kiln.algorithms.xgboost.train import main as train_main

        return train_main(argv[1:])
    print(f"usage: python -m kiln.algorithms.xgboost train (unknown command {command!r})", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
