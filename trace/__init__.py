"""Codes, loading, resolution and linking: the domain core of rxtrace."""
