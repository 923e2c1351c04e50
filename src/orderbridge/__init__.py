"""orderbridge: orders between a VTEX store and an ERP, each delivered exactly once."""

__version__ = "0.1.0"
