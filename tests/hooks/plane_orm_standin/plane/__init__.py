"""Stand-in for the few Plane ORM calls the plane-admin snippet makes (see ../README in the test)."""
