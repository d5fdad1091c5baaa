"""Money: amounts are stored as whole fen (1/100 yuan) and shown as exact yuan, never floats."""

from __future__ import annotations

from decimal import Decimal

__all__ = ["fen_to_yuan"]


def fen_to_yuan(fen: int) -> Decimal:
    """Whole fen as yuan, exactly.

    >>> fen_to_yuan(-2625)
    Decimal('-26.25')
    """
    return Decimal(fen).scaleb(-2)
