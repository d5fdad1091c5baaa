"""The link chart and the timeline as PNG pictures (matplotlib, no display needed)."""

from __future__ import annotations

import io
from collections import defaultdict
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import networkx as nx
from matplotlib import dates as mdates
from matplotlib.lines import Line2D

from rxtrace.trace.investigate.graph import CaseGraph
from rxtrace.trace.investigate.timeline import Timeline

__all__ = ["COLOURS", "graph_png", "timeline_png"]

COLOURS = {
    "seizure": "#d62728",
    "site": "#ff9896",
    "waybill": "#8c564b",
    "box": "#7f7f7f",
    "code": "#bcbd22",
    "sale": "#17becf",
    "card": "#1f77b4",
    "institution": "#2ca02c",
    "doctor": "#9467bd",
}
# Matplotlib falls back along this list glyph by glyph: Latin from DejaVu, Chinese from the
# first CJK font installed (Droid Sans Fallback ships with most Linux systems).
_CJK = [
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
    "Droid Sans Fallback",
    "SimHei",
    "Microsoft YaHei",
    "PingFang SC",
]


def _families() -> list[str]:
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    return ["DejaVu Sans", *(name for name in _CJK if name in installed)]


_RC: dict[str, Any] = {"font.family": _families(), "axes.unicode_minus": False}
_LAYERS = ["waybill", "site", "seizure", "box", "code", "sale", "card", "institution", "doctor"]


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def graph_png(chart: CaseGraph, *, max_nodes: int = 600) -> bytes:
    """Layered left to right in the order money flows back: shipment, seizure, box, code,
    sale, then the card, institution and doctor behind it. Hubs are drawn large and named."""
    g = chart.graph
    keep = list(g.nodes)
    if len(keep) > max_nodes:
        # A huge case is unreadable whole: keep the hubs and what is nearest to them.
        hubs = [h.node for h in chart.hubs]
        ranked = sorted(g.nodes, key=lambda n: -g.nodes[n].get("centrality", 0.0))
        keep = list(dict.fromkeys(hubs + ranked))[:max_nodes]
    sub = g.subgraph(keep)
    layers: dict[str, list[str]] = defaultdict(list)
    for node in sorted(sub.nodes):
        layers[sub.nodes[node]["type"]].append(node)
    pos: dict[str, tuple[float, float]] = {}
    for x, layer in enumerate(_LAYERS):
        members = layers.get(layer, [])
        for i, node in enumerate(members):
            pos[node] = (float(x), 1.0 - (i + 0.5) / max(len(members), 1))
    height = min(max(6.0, max((len(m) for m in layers.values()), default=1) * 0.16), 30.0)
    with plt.rc_context(_RC):  # type: ignore[arg-type]
        fig, ax = plt.subplots(figsize=(13, height))
        simple = nx.Graph(sub.to_undirected())
        nx.draw_networkx_edges(simple, pos, ax=ax, width=0.5, alpha=0.35, edge_color="#555555")
        sizes = [
            220 if sub.nodes[n].get("hub") else 40 + 12 * min(sub.nodes[n].get("boxes", 0), 20)
            for n in sub.nodes
        ]
        nx.draw_networkx_nodes(
            sub,
            pos,
            ax=ax,
            node_size=sizes,
            linewidths=0.5,
            edgecolors=["black" if sub.nodes[n].get("hub") else "white" for n in sub.nodes],
            node_color=[COLOURS[sub.nodes[n]["type"]] for n in sub.nodes],
        )
        labels = {
            n: _short(sub.nodes[n]["label"])
            for n in sub.nodes
            if sub.nodes[n].get("hub") or sub.nodes[n]["type"] in ("seizure", "waybill")
        }
        nx.draw_networkx_labels(sub, pos, labels=labels, ax=ax, font_size=7, font_family=_RC["font.family"])
        for x, layer in enumerate(_LAYERS):
            ax.text(
                x,
                1.03,
                f"{layer}\n({len(layers.get(layer, []))})",
                ha="center",
                va="bottom",
                fontsize=8,
                transform=ax.transData,
            )
        ax.set_xlim(-0.5, len(_LAYERS) - 0.5)
        ax.set_ylim(-0.02, 1.1)
        ax.set_axis_off()
        ax.set_title(
            f"Link chart 关系图 — case {chart.case_id} (large, outlined nodes are hubs 枢纽)", fontsize=10
        )
        return _png(fig)


def _short(label: str, width: int = 18) -> str:
    return label if len(label) <= width else label[: width - 1] + "…"


def timeline_png(timeline: Timeline, *, max_lanes: int = 25) -> bytes:
    """Two panels on one time axis: lanes per card (top) and per institution (bottom).
    Sales are dots, returns crosses; seizures (red) and shipments (brown) cross both panels."""
    cards = timeline.lanes("card")[:max_lanes]
    insts = timeline.lanes("institution")[:max_lanes]
    names = {e.institution: e.institution_name for e in timeline.events if e.institution}
    rows = max(len(cards) + len(insts), 2)
    with plt.rc_context(_RC):  # type: ignore[arg-type]
        fig, (top, bottom) = plt.subplots(
            2,
            1,
            sharex=True,
            figsize=(12, min(3.0 + rows * 0.28, 28.0)),
            gridspec_kw={"height_ratios": [max(len(cards), 1), max(len(insts), 1)]},
        )
        for ax, lanes, attr in ((top, cards, "card"), (bottom, insts, "institution")):
            index = {lane: i for i, lane in enumerate(lanes)}
            for kind, marker, colour in (("sale", "o", "#1f77b4"), ("return", "x", "#ff7f0e")):
                points = [
                    (e.time, index[getattr(e, attr)])
                    for e in timeline.events
                    if e.kind == kind and getattr(e, attr) in index
                ]
                if points:
                    ax.scatter(
                        [p[0] for p in points],
                        [p[1] for p in points],
                        marker=marker,
                        s=22,
                        color=colour,
                        zorder=3,
                    )
            for event in timeline.events:
                if event.kind in ("seizure", "shipment"):
                    ax.axvline(
                        event.time,
                        color="#d62728" if event.kind == "seizure" else "#8c564b",
                        lw=1.2,
                        ls="--" if event.kind == "shipment" else "-",
                        zorder=2,
                    )
            ax.set_yticks(range(len(lanes)))
            labels = (
                lanes
                if attr == "card"
                else [_short(f"{lane} {names.get(lane) or ''}".strip(), 30) for lane in lanes]
            )
            ax.set_yticklabels(labels, fontsize=7)
            ax.set_ylim(-0.8, max(len(lanes), 1) - 0.2)
            ax.invert_yaxis()
            ax.grid(axis="x", alpha=0.3)
            ax.set_ylabel("cards 医保卡" if attr == "card" else "institutions 机构", fontsize=8)
        bottom.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))  # type: ignore[no-untyped-call]
        fig.autofmt_xdate()
        top.set_title(f"Timeline 时间线 — case {timeline.case_id}", fontsize=10)
        top.legend(
            handles=[
                Line2D([], [], marker="o", ls="", color="#1f77b4", label="sale 销售"),
                Line2D([], [], marker="x", ls="", color="#ff7f0e", label="return 退货"),
                Line2D([], [], color="#d62728", label="seizure 查获"),
                Line2D([], [], color="#8c564b", ls="--", label="shipment 寄递"),
            ],
            loc="upper left",
            fontsize=7,
            ncol=4,
        )
        if not timeline.events:
            top.text(0.5, 0.5, "no dated events", transform=top.transAxes, ha="center")
        return _png(fig)
