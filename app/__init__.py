"""dealgate: a guided complex-sale workflow engine."""
