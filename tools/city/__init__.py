"""The synthetic city: generator, report phrasing, simulator and department model."""
