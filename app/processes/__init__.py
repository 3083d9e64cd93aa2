"""Process definitions: which steps exist and what each gate demands."""
