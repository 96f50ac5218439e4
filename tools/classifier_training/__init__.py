"""Builds the labelled corpus, trains the report classifier and evaluates it (dev only: numpy)."""
