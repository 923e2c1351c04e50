"""An offline VTEX OMS over HTTP: workflow, feed, hook, faults, clock and an admin API."""
