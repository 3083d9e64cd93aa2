"""Design: the solution worked out with the customer, its proposition and its scope."""
