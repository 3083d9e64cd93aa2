"""The web console: server-rendered pages for reps (and, on the same base, managers and ops) under /console."""
