"""Orderdeck: self-hosted order management that speaks the Shopify Admin REST API for orders."""

__version__ = "0.1.0"
