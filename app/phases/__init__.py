"""The records each phase gathers and the gate checks that read them."""
