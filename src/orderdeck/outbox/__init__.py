"""Everything that leaves the process after a commit: the relay that reads the outbox, webhook
delivery, the scheduler of time-based jobs, and the worker that runs them all."""
