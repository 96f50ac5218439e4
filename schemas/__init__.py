"""Pydantic v2 models of every topic in the outside contract (SPEC §2)."""
