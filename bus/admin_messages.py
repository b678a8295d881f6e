"""Admin for bus messages, their event trail and the bus overview."""
