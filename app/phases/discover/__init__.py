"""Discover: the account, the buying committee, the first contact."""
