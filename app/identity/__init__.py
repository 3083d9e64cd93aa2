"""Identity: workspaces, users and their roles, and the API keys they call with."""
