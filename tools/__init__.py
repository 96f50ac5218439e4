"""What runs from the source checkout and is not installed: the simulated city, the demo,
the classifier's training and retraining, the evaluations and the fault harness. The service
itself is the `civicgrid` package; `python -m tools` is the developers' command."""
