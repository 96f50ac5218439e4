"""Faust agents: thin shells moving events between topics, the core and PostgreSQL."""
