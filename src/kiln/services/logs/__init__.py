"""CloudWatch Logs: where Kiln's jobs and endpoints write their output, served to boto3 and the SDK."""
