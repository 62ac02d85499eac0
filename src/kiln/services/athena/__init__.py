"""Athena and the Glue Data Catalog: Presto/Trino SQL read by sqlglot, run by DuckDB over the object store."""
