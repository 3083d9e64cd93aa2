"""Diagnose: the customer's problems, their extent and their cost."""
