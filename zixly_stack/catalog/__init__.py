"""The catalog: placeholder grammar, stack resolution (enabled services, placement), cross-checks."""
