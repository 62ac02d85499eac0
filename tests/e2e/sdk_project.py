"""Scaffolding the SDK end-to-end tests share: a user project (src/ scripts, a synthetic
data/train.csv, the user script), running it as a subprocess under `kiln env`, and reading its tagged
output lines."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def write_project(tmp: Path, src: dict[str, str], *, rows: int = 256,
                  weights: Sequence[float] = (1.0, -2.0, 0.5, 3.0), noise: float = 0.0) -> Path:
    """`tmp/src/<name>` for each script in `src` (dedented), and `tmp/data/train.csv`: a label column
    (1 where x @ weights (+ noise) > 0), then len(weights) standard-normal features, seeded."""
    import numpy as np

    (tmp / "src").mkdir(parents=True)
    for name, text in src.items():
        (tmp / "src" / name).write_text(textwrap.dedent(text))
    (tmp / "data").mkdir()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, len(weights)))
    score = x @ np.array(weights)
    if noise:
        score = score + noise * rng.normal(size=rows)
    np.savetxt(tmp / "data" / "train.csv", np.column_stack([(score > 0).astype(float), x]), delimiter=",")
    return tmp


def run_user_script(kiln_server: Any, proj: Path, script: str, *, timeout: int = 480,
                    endpoints: Sequence[str] = ()) -> str:
    """Write `script` (dedented) as proj/user_script.py, run it under the server's env; its stdout.
    `endpoints`: names the script deletes when it succeeds; deleted here if it did not, so a failure
    leaves no instances behind for the tests that share the server."""
    (proj / "user_script.py").write_text(textwrap.dedent(script))
    try:
        out = subprocess.run([sys.executable, "user_script.py"], cwd=proj, env=kiln_server.env(),
                             capture_output=True, text=True, timeout=timeout)
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-5000:]
    except BaseException:
        sm = kiln_server.client("sagemaker")
        for name in endpoints:
            try:
                sm.delete_endpoint(EndpointName=name)
            except Exception:  # never there, or already going
                pass
        raise
    return out.stdout


def line(out: str, tag: str) -> str:
    """The text after `TAG ` on its line (the SDK's progress dots may precede it)."""
    return next(text.split(tag + " ", 1)[1] for text in out.splitlines() if tag + " " in text)
