"""Business rules as settings objects and pure functions (no I/O)."""
