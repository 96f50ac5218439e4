"""Embedded development services: a Tansu broker and a PostgreSQL server on free local ports."""
