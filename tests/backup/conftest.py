"""Fixtures of the backup tests: the session's ONE shared ``local_stack`` (tests/harness/stack.py)
is registered for every test directory by tests/harness/plugin.py; nothing backup-specific here."""
