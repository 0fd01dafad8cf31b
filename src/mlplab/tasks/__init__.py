"""What the scripts run: train, evaluate, predict, export, compare, report."""
