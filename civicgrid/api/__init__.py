"""`civicgrid api`: Open311 GeoReport v2, the residents' case pages and the console, over
PostgreSQL."""
