"""Run work: the JobQueue port, one lock per order, scheduled retries, parking.

- `port`: `JobQueue`, `Job`, `Handler`, `ParkedJob` — all that handlers and the pipeline depend on.
- `errors`: `RetryLater`, `Park` — how a handler reports an outcome other than "done".
- `embedded`: `EmbeddedQueue`, the adapter on the application database (SQLite or PostgreSQL).
- `procrastinate_queue`: `ProcrastinateQueue`, the adapter on procrastinate (PostgreSQL, any number of
  worker processes); `procrastinate_notes` keeps what procrastinate's rows have no place for.
"""
