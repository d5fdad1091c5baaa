"""Investigation: leads, link charts and timelines. Lead parameters, the statistics of the rate
rules, one module per family of rules (codes, seizures, cards, institutions), the leads' basis
(what the rules need from every sale, built once per state of the data; :func:`ensure_basis`
alone decides whether it is current and builds it), the leads' workflow, and a case's graph and
timeline. It reads the store and resolution; nothing below it reads it."""

from rxtrace.trace.investigate.basis import BasisInfo, basis_info, ensure_basis, is_fresh, refresh_basis
from rxtrace.trace.investigate.graph import NODE_TYPES, CaseGraph, Hub, build_case_graph, graph_document
from rxtrace.trace.investigate.leads import find_leads
from rxtrace.trace.investigate.params import (
    KINDS,
    STATUSES,
    TRANSITIONS,
    Lead,
    LeadKind,
    LeadParams,
    LeadStatus,
    RateTest,
    RuleHit,
)
from rxtrace.trace.investigate.stats import poisson_surprise, rate_test
from rxtrace.trace.investigate.timeline import EVENT_KINDS, Timeline, TimelineEvent, case_timeline
from rxtrace.trace.investigate.workflow import (
    LeadEvent,
    StoredLead,
    change_status,
    default_user,
    lead_history,
    save_leads,
)

__all__ = [
    "EVENT_KINDS",
    "KINDS",
    "NODE_TYPES",
    "STATUSES",
    "TRANSITIONS",
    "BasisInfo",
    "CaseGraph",
    "Hub",
    "Lead",
    "LeadEvent",
    "LeadKind",
    "LeadParams",
    "LeadStatus",
    "RateTest",
    "RuleHit",
    "StoredLead",
    "Timeline",
    "TimelineEvent",
    "basis_info",
    "build_case_graph",
    "case_timeline",
    "change_status",
    "default_user",
    "ensure_basis",
    "find_leads",
    "graph_document",
    "is_fresh",
    "lead_history",
    "poisson_surprise",
    "rate_test",
    "refresh_basis",
    "save_leads",
]
