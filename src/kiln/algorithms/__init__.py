"""Kiln's implementations of SageMaker's built-in algorithms ("images are runtimes").

A training job whose image is a built-in algorithm image (for example what
`sagemaker.image_uris.retrieve("xgboost", region, "1.7-1")` returns) and that names no entry point runs
`python -m kiln.algorithms.<name> train` in a process whose /opt/ml tree follows the SageMaker
training contract (reference §6.1). The tree is read from `KILN_OPT_ML` when set (the fallback when no
private mount namespace is available), else from /opt/ml.

Each algorithm package reads the documented hyperparameters and data formats, writes the model to
/opt/ml/model in the file layout the real container uses, prints its evaluation lines in the format the
built-in metric definitions match, and reports failures in /opt/ml/output/failure.

The packages here need the optional extra `kiln[algorithms]` (xgboost, scikit-learn, pandas, pyarrow).
"""

from __future__ import annotations

# image repository -> module run as `python -m <module> train` (algorithm mode, no sagemaker_program)
ALGORITHM_MODULES: dict[str, str] = {
    "sagemaker-xgboost": "kiln.algorithms.xgboost",
}
