"""SageMaker Feature Store: feature groups, an online store (SQLite or Redis), an offline store in Parquet."""
