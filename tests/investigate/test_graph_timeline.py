"""The link chart's shape and hubs, and the case timeline."""

from __future__ import annotations

import io

import networkx as nx
from sqlalchemy.orm import Session

from rxtrace.trace.investigate.graph import NODE_TYPES, build_case_graph, graph_document
from rxtrace.trace.investigate.timeline import case_timeline
from rxtrace.trace.protect import mask_id

from .builders import World


def test_graph_has_every_type_and_the_rented_card_is_the_hub(session: Session, case_world: World) -> None:
    chart = build_case_graph("K1", session=session)
    counts = chart.counts()
    assert set(counts) == set(NODE_TYPES)
    assert counts["seizure"] == 2 and counts["waybill"] == 1 and counts["site"] == 1
    assert counts["box"] == 9  # nine distinct boxes read (one malformed)
    assert counts["card"] == 3  # RENTED, FIRST, SPLIT
    top = chart.hubs[0]
    assert (top.type, top.label, top.boxes) == ("card", mask_id("RENTED"), 6)
    assert {h.label for h in chart.hubs} >= {"浦东诊所", "DOC1"}
    assert "FIRST" not in {d["label"] for _, d in chart.graph.nodes(data=True)}
    settled = [d for _, _, d in chart.graph.edges(data=True) if d["label"] == "settled in"]
    assert settled and all(d["time"] and d["money"] for d in settled)
    assert chart.graph.nodes[f"card:{mask_id('RENTED')}"]["fund"] == "70.15"


def test_graph_serialises(session: Session, case_world: World) -> None:
    chart = build_case_graph("K1", session=session, reveal=True)
    buffer = io.BytesIO()
    nx.write_graphml(chart.graph, buffer)
    back = nx.read_graphml(io.BytesIO(buffer.getvalue()))
    assert back.number_of_nodes() == chart.graph.number_of_nodes()
    assert "card:RENTED" in back
    document = graph_document(chart)
    assert document["hubs"][0]["node"] == "card:RENTED"
    assert len(document["graph"]["edges"]) == chart.graph.number_of_edges()


def test_timeline_orders_sales_seizures_and_shipments(session: Session, case_world: World) -> None:
    line = case_timeline("K1", session=session)
    kinds = [e.kind for e in line.events]
    assert kinds.count("seizure") == 2 and kinds.count("shipment") == 1
    assert kinds.count("sale") == 8
    times = [e.time for e in line.events]
    assert times == sorted(times)
    assert line.lanes("card")[0] == mask_id("RENTED")
    assert line.lanes("institution")[0] == "CLINIC"
    shipment = next(e for e in line.events if e.kind == "shipment")
    assert shipment.time < next(e for e in line.events if e.kind == "seizure" and e.seizure_id == "Z2").time


def test_the_chart_folds_to_cards_and_doctors_feeding_institutions(
    session: Session, case_world: World
) -> None:
    from rxtrace.trace.investigate.graph import party_links

    chart = build_case_graph("K1", session=session)
    links = {(link.party, link.institution): link for link in party_links(chart)}
    rented = links[f"card:{mask_id('RENTED')}", "institution:CLINIC"]
    # The rented card's five hub boxes and the resold box's second sale, all at the clinic.
    assert (rented.boxes, rented.fund_fen) == (6, 7015)
    assert links["doctor:DOC1", "institution:CLINIC"].boxes == 6
    assert all(link.boxes >= 1 for link in links.values())
