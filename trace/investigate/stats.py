"""The statistics behind the rate rules: Poisson surprise and shrunk relative risk."""

from __future__ import annotations

import math

from rxtrace.trace.investigate.params import RateTest

__all__ = ["poisson_surprise", "rate_test"]


def _log_gamma_p(a: float, x: float) -> float:
    """log of the regularised lower incomplete gamma function P(a, x), a > 0, x > 0."""
    if x < a + 1.0:
        # Series: converges fast below the mode.
        term = total = 1.0 / a
        ap = a
        for _ in range(10_000):
            ap += 1.0
            term *= x / ap
            total += term
            if term < total * 1e-15:
                break
        return -x + a * math.log(x) - math.lgamma(a) + math.log(total)
    # Continued fraction for Q = 1 - P (Lentz), then P = 1 - Q: P is large here, no underflow.
    tiny = 1e-300
    b = x + 1.0 - a
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    q = math.exp(-x + a * math.log(x) - math.lgamma(a)) * h
    return math.log1p(-min(q, 1.0 - 1e-16))


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
    return min(300.0, -_log_gamma_p(float(k), lam) / math.log(10))


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
