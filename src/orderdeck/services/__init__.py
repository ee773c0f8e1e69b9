"""Use cases: one function per command, each run inside the caller's unit of work.

A service loads what it needs (locking it), asks the domain to decide, asks gateways to move
money, and hands the changed order to `changes.save_order`, which derives statuses and writes
the order row, its timeline and its outbox messages. The caller commits once.
"""
