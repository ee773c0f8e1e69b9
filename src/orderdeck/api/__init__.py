"""The Shopify-compatible Admin REST API (2024-10 wire format) over the services."""
