"""civicgrid: real-time event platform for grid-based city governance."""

__version__ = "0.1.0"
