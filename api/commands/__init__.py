"""One module a domain, each with ``register(app)`` adding its commands."""
