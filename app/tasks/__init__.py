"""Tasks across opportunities: what each rep owes, and what is overdue."""
