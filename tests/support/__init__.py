"""Helpers shared by several test folders (import as `tests.support.<module>`; fixtures stay in each conftest)."""
