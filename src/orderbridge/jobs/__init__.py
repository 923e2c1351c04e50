"""Run work: the JobQueue port, one lane per order, scheduled retries, parking."""
