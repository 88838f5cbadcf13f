"""Reading configuration: YAML with positions, model validation, GCC-like problems."""
