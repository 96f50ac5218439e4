"""PostgreSQL: the system of record for events, cases and their history."""
