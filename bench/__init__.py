"""Benchmarks of dealgate: the engine alone (engine.py) and transitions over HTTP (transitions.py)."""
