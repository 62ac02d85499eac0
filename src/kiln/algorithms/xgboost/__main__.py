"""`python -m kiln.algorithms.xgboost train|serve`: the entry points the platform runs (SageMaker's
`docker run <image> train` and `docker run <image> serve`)."""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "train"
    if command == "train":
        from kiln.algorithms.xgboost.train import main as train_main

        return train_main(argv[1:])
    if command == "serve":
        from kiln.algorithms.xgboost.serve import main as serve_main

        return serve_main(argv[1:])
    print(f"usage: python -m kiln.algorithms.xgboost train|serve (unknown command {command!r})", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
