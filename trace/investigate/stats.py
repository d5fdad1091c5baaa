"""The statistics behind the rate rules: Poisson surprise and shrunk relative risk."""

from __future__ import annotations

import math

from rxtrace.trace.investigate.params import RateTest

__all__ = ["poisson_surprise", "rate_test"]


def poisson_surprise(k: int, lam: float) -> float:
    """``-log10 P(X >= k)`` for ``X ~ Poisson(lam)``: 0 when nothing is unusual.

    >>> round(poisson_surprise(1, 0.01), 2)
    2.0
    >>> poisson_surprise(0, 5.0)
    0.0
    """
    if k <= 0:
        return 0.0
    if lam <= 0:
        return 300.0
    # P(X >= k) is the regularised lower incomplete gamma P(k, lam). Where it is near 1 the
    # surprise comes from the small upper tail Q through log1p, or it would round to 0.
    from scipy import special  # here, not at import: it costs a third of a second to load

    q = float(special.gammaincc(k, lam))
    if q < 0.5:
        return min(300.0, -math.log1p(-q) / math.log(10))
    p = float(special.gammainc(k, lam))
    # p underflows to 0 only far beyond the cap of 1e-300.
    return 300.0 if p <= 0.0 else min(300.0, -math.log10(p))


def rate_test(k: int, n: float, rate: float, *, prior: float = 2.0) -> RateTest:
    """Compare ``k`` events among ``n`` with a peer ``rate``.

    >>> t = rate_test(20, 200, 0.001)
    >>> t.surprise > 30, round(t.relative_risk, 1)
    (True, 10.0)
    >>> rate_test(1000, 1_000_000, 0.001).relative_risk
    1.0
    """
    lam = max(n * rate, 0.0)
    return RateTest(k, n, lam, poisson_surprise(k, lam), (k + prior) / (lam + prior))
