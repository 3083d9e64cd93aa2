"""The process engine: definitions as data, shared state machines, gate evaluation."""
