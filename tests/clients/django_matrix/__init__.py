"""The Django app of the client matrix: models over the orders layout's logical tables."""
