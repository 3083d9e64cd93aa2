"""Opportunities: the deals that move through a process."""
