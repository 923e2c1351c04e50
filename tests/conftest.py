"""Shared test fixtures. Room-specific fixtures live in each room's conftest."""
