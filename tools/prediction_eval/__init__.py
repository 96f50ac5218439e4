"""Offline evaluation of the early-warning core (SPEC §7, issue 7); not used at runtime."""
