"""SageMaker's built-in XGBoost algorithm (image `sagemaker-xgboost`, algorithm mode) on real XGBoost.

`python -m kiln.algorithms.xgboost train` runs a training job under the SageMaker training contract.
`kiln.algorithms.xgboost.metrics` (standard library only) holds the built-in metric definitions.
"""
