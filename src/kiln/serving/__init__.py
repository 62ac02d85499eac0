"""The model server: the SageMaker inference container contract (`GET /ping`, `POST /invocations`)."""
