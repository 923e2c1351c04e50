"""Face people and ERPs: REST API, hook receiver, dashboard, metrics."""
