"""Complaints: what went wrong for a customer after the sale, its root cause, and what keeps it from repeating."""
