"""The demo world: a generated Shanghai of insured persons, institutions, sales and seizures,
with the schemes rxtrace must find planted in it (a rented-card ring, a phantom-billing clinic,
a reselling pharmacy, a code-cloning pharmacy), written as contract files."""

from rxtrace.trace.demo.world import DEMO_CASE, DISTRICTS, DemoWorld, generate_world

__all__ = ["DEMO_CASE", "DISTRICTS", "DemoWorld", "generate_world"]
