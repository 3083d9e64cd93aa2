"""When a rep leaves: their deals, accounts, tasks and complaints handed to successors, and the user deactivated."""
