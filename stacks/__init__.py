"""One stack per deployment case; each composes the constructs in ``constructs_lib``."""
