"""Hotspots, courier routes and offline maps."""
