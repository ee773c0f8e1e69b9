"""Pages for people: the customer's order status page and order lookup (Jinja2, rendered on the
server, no JavaScript), in English, Dutch, German and Finnish."""
