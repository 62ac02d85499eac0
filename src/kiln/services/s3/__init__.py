"""Kiln's S3-compatible object store on local disk: `store.ObjectStore` (internal API) and
`provider.S3Provider` (the S3 wire API)."""
