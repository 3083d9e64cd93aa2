"""Accounts: the customers' organisations, each with its deals."""
