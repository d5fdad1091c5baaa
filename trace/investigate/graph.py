"""The link chart of a case: seizure → box → code → sale → card / institution / doctor.

Seizure sites and waybills hang off their seizures. Nodes carry a ``type``; edges carry a
``label`` and, where they have them, a ``time`` and the fund's ``money`` (yuan, as text so it
stays exact). Centrality marks the hubs: the card that feeds many boxes, the clinic behind
many cards. Card numbers are masked unless ``reveal``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rxtrace.trace.money import fen_to_yuan
from rxtrace.trace.protect import mask_id
from rxtrace.trace.resolve.rules import BoxResolution
from rxtrace.trace.resolve.service import Resolution, resolve_case
from rxtrace.trace.store import models

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["NODE_TYPES", "CaseGraph", "Hub", "PartyLink", "build_case_graph", "graph_document", "party_links"]

NODE_TYPES = ("seizure", "site", "waybill", "box", "code", "sale", "card", "institution", "doctor")
_PARTIES = ("card", "institution", "doctor")
# Exact betweenness is O(V·E); past this many nodes a fixed-seed sample of sources is used.
_EXACT_LIMIT = 1500


@dataclass(frozen=True)
class Hub:
    node: str
    type: str
    label: str
    boxes: int
    fund: Decimal
    centrality: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "type": self.type,
            "label": self.label,
            "boxes": self.boxes,
            "fund": self.fund,
            "centrality": round(self.centrality, 4),
        }


@dataclass(frozen=True)
class CaseGraph:
    case_id: str
    graph: nx.MultiDiGraph
    hubs: tuple[Hub, ...]

    def counts(self) -> dict[str, int]:
        found = dict.fromkeys(NODE_TYPES, 0)
        for _, data in self.graph.nodes(data=True):
            found[data["type"]] += 1
        return found


def _time(value: datetime | None) -> str:
    return value.isoformat(sep=" ") if value is not None else ""


def build_case_graph(
    case_id: str,
    *,
    session: Session,
    reveal: bool = False,
    resolution: Resolution | None = None,
    top_hubs: int = 8,
) -> CaseGraph:
    """Build the case's link chart from its resolution (computed unless given)."""
    import networkx as nx  # loaded for a chart only: it slows every command's start

    resolution = resolution or resolve_case(case_id, session=session)
    g: nx.MultiDiGraph = nx.MultiDiGraph(case_id=case_id)
    _add_seizures(g, case_id, session)
    fed: dict[str, set[str]] = defaultdict(set)
    fund: dict[str, int] = defaultdict(int)
    for box in resolution.boxes:
        _add_box(g, box, reveal=reveal, fed=fed, fund=fund)
    return CaseGraph(case_id, g, _mark_hubs(g, fed, fund, top_hubs))


def _add_seizures(g: nx.MultiDiGraph, case_id: str, session: Session) -> None:
    """The case's seizures, the sites they were made at and the seized shipments' waybills."""
    seizures = {
        s.seizure_id: s
        for s in session.scalars(select(models.Seizure).where(models.Seizure.case_id == case_id))
    }
    waybill_nos = sorted({s.waybill_no for s in seizures.values() if s.waybill_no})
    waybills = (
        {
            w.waybill_no: w
            for w in session.scalars(select(models.Waybill).where(models.Waybill.waybill_no.in_(waybill_nos)))
        }
        if waybill_nos
        else {}
    )
    for sid, seizure in seizures.items():
        node = f"seizure:{sid}"
        g.add_node(
            node,
            type="seizure",
            label=sid,
            time=_time(seizure.seized_at),
            place_kind=seizure.place_kind or "",
            address=seizure.address or "",
        )
        if seizure.address or seizure.lon is not None:
            where = seizure.address or f"{seizure.lon:.4f},{seizure.lat:.4f}"
            site = f"site:{where}"
            g.add_node(site, type="site", label=where, lon=seizure.lon or 0.0, lat=seizure.lat or 0.0)
            g.add_edge(node, site, label="seized at", time=_time(seizure.seized_at), money="")
        if seizure.waybill_no:
            bill = waybills.get(seizure.waybill_no)
            wnode = f"waybill:{seizure.waybill_no}"
            g.add_node(
                wnode,
                type="waybill",
                label=seizure.waybill_no,
                time=_time(bill.ship_time if bill else None),
                receiver_adcode=(bill.receiver_adcode if bill else "") or "",
                carrier=(bill.carrier if bill else "") or "",
            )
            g.add_edge(
                wnode, node, label="shipment seized", time=_time(bill.ship_time if bill else None), money=""
            )


def _add_box(
    g: nx.MultiDiGraph,
    box: BoxResolution,
    *,
    reveal: bool,
    fed: dict[str, set[str]],
    fund: dict[str, int],
) -> None:
    """One box, its code, the sales of that code and the parties behind each sale; ``fed`` and
    ``fund`` collect the boxes and fund money each party stands behind."""
    key = box.key or f"malformed:{box.code}"
    sid = box.seizure_id or "?"
    bnode = f"box:{sid}:{key}"
    g.add_node(
        bnode,
        type="box",
        label=box.code,
        status=str(box.status),
        fund=str(box.fund_loss),
        clone="yes" if box.clone_suspect else "",
        via_case=box.via_case or "",
    )
    if f"seizure:{sid}" in g:
        g.add_edge(f"seizure:{sid}", bnode, label="seized", money="", time=g.nodes[f"seizure:{sid}"]["time"])
    if box.key is None:
        return
    cnode = f"code:{box.key}"
    if cnode not in g:
        g.add_node(
            cnode,
            type="code",
            label=box.key,
            family=box.family or "",
            product=(box.product or {}).get("name", "") or "",
        )
    g.add_edge(bnode, cnode, label="carries code", time="", money="")
    for sale in box.sales:
        snode = f"sale:{sale.setl_id}"
        if snode not in g:
            g.add_node(snode, type="sale", label=sale.setl_id, time=_time(sale.time), rxno=sale.rxno or "")
        verb = "returned in" if sale.count < 0 else "settled in"
        g.add_edge(
            cnode,
            snode,
            label=verb,
            time=_time(sale.time),
            money=str(fen_to_yuan(sale.hifp_pay_fen)),
            count=sale.count,
            drug=sale.med_list_codg,
        )
        card = sale.psn_no if reveal else mask_id(sale.psn_no)
        parties = [
            (f"card:{card}", "card", card, "paid by card"),
            (
                f"institution:{sale.fixmedins_code}",
                "institution",
                sale.institution or sale.fixmedins_code,
                "dispensed at",
            ),
        ]
        if sale.dr_code:
            parties.append((f"doctor:{sale.dr_code}", "doctor", sale.dr_code, "prescribed by"))
        for pnode, ptype, label, relation in parties:
            if pnode not in g:
                g.add_node(pnode, type=ptype, label=label)
            if not g.has_edge(snode, pnode):
                g.add_edge(snode, pnode, label=relation, time=_time(sale.time), money="")
            fed[pnode].add(bnode)
            fund[pnode] += sale.hifp_pay_fen


def _mark_hubs(
    g: nx.MultiDiGraph, fed: dict[str, set[str]], fund: dict[str, int], top_hubs: int
) -> tuple[Hub, ...]:
    """Every node's centrality, boxes and fund; the parties feeding most boxes become hubs."""
    centrality = _centrality(g)
    for node, data in g.nodes(data=True):
        data["centrality"] = round(centrality.get(node, 0.0), 6)
        data["boxes"] = len(fed.get(node, ()))
        data["fund"] = data.get("fund") or str(fen_to_yuan(fund.get(node, 0)))
        data["hub"] = False
    feeders = [n for n, d in g.nodes(data=True) if d["type"] in _PARTIES and d["boxes"] > 1]
    feeders.sort(key=lambda n: (-g.nodes[n]["boxes"], -g.nodes[n]["centrality"], n))
    hubs = []
    for node in feeders[:top_hubs]:
        data = g.nodes[node]
        data["hub"] = True
        hubs.append(
            Hub(node, data["type"], data["label"], data["boxes"], fen_to_yuan(fund[node]), data["centrality"])
        )
    return tuple(hubs)


def _centrality(g: nx.MultiDiGraph) -> dict[str, float]:
    """Betweenness on the undirected chart: who sits on the paths between boxes and parties."""
    import networkx as nx

    if g.number_of_nodes() < 3:
        return dict.fromkeys(g.nodes, 0.0)
    simple = nx.Graph(g.to_undirected())
    if simple.number_of_nodes() > _EXACT_LIMIT:
        result: dict[str, float] = nx.betweenness_centrality(simple, k=_EXACT_LIMIT // 3, seed=0)
    else:
        result = nx.betweenness_centrality(simple)
    return result


def graph_document(chart: CaseGraph) -> dict[str, Any]:
    """Nodes and edges as one JSON-ready document (networkx node-link form) plus the hubs."""
    import networkx as nx

    data = nx.node_link_data(chart.graph, edges="edges")
    return {
        "case_id": chart.case_id,
        "counts": chart.counts(),
        "hubs": [h.to_dict() for h in chart.hubs],
        "graph": data,
    }


@dataclass(frozen=True)
class PartyLink:
    """A card or doctor tied to an institution: the distinct boxes and the fund money (fen)
    of the sales between them."""

    party: str
    institution: str
    boxes: int
    fund_fen: int


def party_links(chart: CaseGraph) -> list[PartyLink]:
    """The chart folded to its parties, as an investigator first reads a case: which cards and
    doctors fed which institutions, with how many boxes and how much money (most boxes first).

    A sale joins its card, institution and doctor; its boxes are those carrying the code it
    settled, its money the settled amount on that edge.
    """
    g = chart.graph
    boxes: dict[tuple[str, str], set[str]] = defaultdict(set)
    fund: dict[tuple[str, str], int] = defaultdict(int)
    for sale, data in g.nodes(data=True):
        if data["type"] != "sale":
            continue
        parties = {g.nodes[t]["type"]: t for _, t in g.out_edges(sale)}
        institution = parties.get("institution")
        if institution is None:
            continue
        held: set[str] = set()
        money = 0
        for code, _, edge in g.in_edges(sale, data=True):
            if edge.get("label") != "settled in":
                continue
            money += int(Decimal(edge.get("money") or "0") * 100)
            held |= {b for b, _ in g.in_edges(code) if g.nodes[b]["type"] == "box"}
        for kind in ("card", "doctor"):
            party = parties.get(kind)
            if party is not None:
                boxes[party, institution] |= held
                fund[party, institution] += money
    links = [PartyLink(p, i, len(b), fund[p, i]) for (p, i), b in boxes.items()]
    return sorted(links, key=lambda link: (-link.boxes, -link.fund_fen, link.party, link.institution))
