"""Decide: order records, state transitions and validation of ERP commands. Pure, no I/O."""
