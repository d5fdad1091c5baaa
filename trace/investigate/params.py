"""Lead parameters, kinds and statuses, and the shape of a lead and of its rules' hits."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from rxtrace.trace.protect import mask_id

__all__ = [
    "EPOCH",
    "KINDS",
    "MIN_OWN_PAIRS",
    "MIN_PEER_EXPOSURE",
    "STATUSES",
    "TRANSITIONS",
    "Lead",
    "LeadKind",
    "LeadParams",
    "LeadStatus",
    "RateTest",
    "RuleHit",
]


class LeadKind(StrEnum):
    """What a lead is about."""

    card = "card"
    institution = "institution"
    doctor = "doctor"
    code = "code"


class LeadStatus(StrEnum):
    """Where a lead is in its workflow."""

    new = "new"
    investigating = "investigating"
    escalated = "escalated"
    closed = "closed"


KINDS = tuple(kind.value for kind in LeadKind)
STATUSES = tuple(status.value for status in LeadStatus)
# As in the EU verification system's alert handling: an alert is looked into before it is
# escalated, and a closed one may be reopened (with a reason) when new evidence comes in.
TRANSITIONS: Mapping[str, frozenset[str]] = {
    "new": frozenset({"investigating", "closed"}),
    "investigating": frozenset({"escalated", "closed"}),
    "escalated": frozenset({"investigating", "closed"}),
    "closed": frozenset({"investigating"}),
}
EPOCH = datetime(1970, 1, 1)
MIN_PEER_EXPOSURE = 100.0
MIN_OWN_PAIRS = 30


@dataclass(frozen=True)
class LeadParams:
    """Every threshold the analysis uses; printed in the dossier with its results."""

    window_days: int = 30
    # Most tablets are taken at most three a day; some drugs go by ten pills a dose, so the
    # plausible quantity of a drug is also at least ``typical_factor`` times what a card
    # usually takes of it in a window (the data's own dose), plus the last box bought.
    max_units_per_day: float = 3.0
    typical_factor: float = 3.0
    min_institutions: int = 3
    bunch_seconds: int = 120
    prior_events: float = 2.0
    min_surprise: float = 2.0
    min_log2_rr: float = 0.5
    # Volume-shape rules need a doubling: honest institutions differ by tens of percent.
    min_rr_shape: float = 2.0
    # A standard prescription may legitimately go to this share of an institution's cards.
    modal_floor: float = 0.1
    # The fund's share of what an institution billed. A phantom biller charges the fund for
    # everything (no patient pays a part); honest institutions of one kind differ by a few
    # points. Judged from this much billed (fen), at least this far above the peers' middle
    # and this many of their spreads (scaled median absolute deviations).
    fund_share_min_billed_fen: int = 500_000
    fund_share_gap: float = 0.10
    fund_share_spreads: float = 4.0
    # A doctor's bursts: settlements to another card within this of the doctor's previous one
    # (no consultation takes less), at a rate far above other doctors'.
    burst_seconds: int = 300
    # Cards that come together: settled within this many settlements of each other at one
    # institution on one day, on ``covisit_min_days`` days or more, in a group of at least
    # ``covisit_min_cards`` (a household of four fetching its medicine together is no ring),
    # travelling: at ``covisit_min_institutions`` or more. Cards billed in one sitting at one
    # institution are that institution's pattern (its doctors' bursts), not their holders'.
    covisit_neighbours: int = 3
    covisit_min_days: int = 3
    covisit_min_cards: int = 5
    covisit_min_institutions: int = 2
    # Cards billed together at one institution: sittings of at least this many of a group's
    # cards on ``covisit_min_days`` days (households and a small pharmacy's regulars come a
    # few at a time).
    sitting_min_cards: int = 10
    # Many small visits: one drug on this many days or more, at two institutions or more, at
    # least ``small_visits_per_month`` visits a window on average, adding up to
    # ``small_visits_ratio`` times what a card usually takes over the same span.
    small_visits_min_visits: int = 6
    small_visits_per_month: float = 2.0
    small_visits_ratio: float = 2.0
    # A drug mix that does not look like a treatment: a card given baskets (two drugs or more)
    # at one institution in ``no_treatment_min_windows`` windows or more, fewer than
    # ``no_treatment_core_share`` of its drugs' windows being of a drug it got in most of
    # them (a chronic patient's drugs come back every time). Alone that is an ordinary
    # patient with varied complaints; an institution where such cards are far more common
    # than the ``no_treatment_floor`` share of cards its peers may have is billing baskets.
    no_treatment_min_windows: int = 4
    no_treatment_core_share: float = 0.5
    no_treatment_floor: float = 0.15
    # Cards taking turns ("定期轮换用卡"): a co-visit group of ``turns_min_cards`` or more
    # whose cards, two or more of them each on ``turns_min_days`` days or more, fetched one
    # drug on ``small_visits_min_visits`` days or more at several institutions,
    # ``turns_per_month`` days a window, adding up to ``turns_ratio`` times what a card
    # usually takes. A card that got the drug once or twice is a patient's occasional
    # prescription, not a turn (a group of twenty would otherwise add up to anything); and a
    # household of two on one drug, fetching it apart now and then, takes twice a card's use
    # on a day or two a month: the group's thresholds are above the one card's.
    turns_min_cards: int = 3
    turns_min_days: int = 3
    turns_per_month: float = 3.0
    turns_ratio: float = 3.0
    evidence_limit: int = 20
    w_resold: float = 3.0
    w_clone: float = 3.0
    w_seized: float = 2.0
    w_cross_institution: float = 1.5
    w_oversupply: float = 1.0
    w_seized_share: float = 2.0
    w_boxes_per_card: float = 1.0
    w_visit_ids: float = 1.0
    w_modal_basket: float = 1.0
    w_bunched: float = 1.0
    w_seized_cards: float = 1.5
    w_fund_share: float = 2.0
    w_bursts: float = 1.0
    w_covisit: float = 1.5
    w_small_visits: float = 1.0
    w_no_treatment: float = 1.0
    w_turns: float = 1.5

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RateTest:
    """``k`` events among ``n`` against the peers' rate: surprise and shrunk relative risk."""

    observed: int
    exposure: float
    expected: float
    surprise: float
    relative_risk: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "observed": self.observed,
            "exposure": self.exposure,
            "expected": round(self.expected, 4),
            "surprise": round(self.surprise, 2),
            "relative_risk": round(self.relative_risk, 3),
        }


@dataclass(frozen=True)
class RuleHit:
    """One rule that fired for a lead: its share of the score, why, and the evidence."""

    rule: str
    title: str
    contribution: float
    detail: str
    evidence: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self, *, reveal: bool = False) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "title": self.title,
            "contribution": round(self.contribution, 3),
            "detail": self.detail,
            "evidence": _masked(self.evidence, reveal),
        }


@dataclass(frozen=True)
class Lead:
    kind: str
    id: str
    name: str | None
    rules: tuple[RuleHit, ...]

    @property
    def score(self) -> float:
        return round(sum(r.contribution for r in self.rules), 3)

    @property
    def setl_ids(self) -> list[str]:
        found: set[str] = set()
        for rule in self.rules:
            found.update(rule.evidence.get("setl_ids", ()))
        return sorted(found)

    @property
    def evidence(self) -> dict[str, Any]:
        """The rules' evidence merged: every figure by rule, and all the settlements behind."""
        merged: dict[str, Any] = {
            r.rule: {k: v for k, v in r.evidence.items() if k != "setl_ids"} for r in self.rules
        }
        merged["setl_ids"] = self.setl_ids
        return merged

    def display_id(self, *, reveal: bool = False) -> str:
        return self.id if reveal or self.kind != "card" else mask_id(self.id)

    def to_dict(self, *, reveal: bool = False) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.display_id(reveal=reveal),
            "name": self.name,
            "score": self.score,
            "rules": [r.to_dict(reveal=reveal) for r in self.rules],
            "evidence": _masked(self.evidence, reveal),
        }


def _masked(value: Any, reveal: bool) -> Any:
    """Card numbers inside evidence are masked like everywhere else."""
    if reveal:
        return value
    if isinstance(value, Mapping):
        return {
            k: (
                [mask_id(c) for c in v]
                if k == "cards" and isinstance(v, list | tuple)
                else mask_id(v)
                if k == "card" and isinstance(v, str)
                else _masked(v, reveal)
            )
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_masked(v, reveal) for v in value]
    return value
