"""The order engine's rules in plain Python: no I/O, no framework, nothing of ours outside it.

Read `order.py` for the aggregate, `statuses.py` for how every status follows from facts,
and one module per kind of command (payments, fulfillment, cancellation, refunds, lifecycle).
"""
