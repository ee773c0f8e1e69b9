"""Orderdeck's benchmark suite (not tests): `python -m bench.run --help`."""
