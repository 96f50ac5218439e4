"""Helpers of the integration tests: real brokers, databases and worker processes."""
