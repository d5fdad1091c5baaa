"""The link chart and the timeline as PNG pictures (matplotlib, no display needed)."""

from __future__ import annotations

import io
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib import dates as mdates
from matplotlib.lines import Line2D

from rxtrace.trace.investigate.graph import CaseGraph, PartyLink, party_links
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


_Layout = tuple[dict[str, list[str]], dict[str, list[str]], list[PartyLink], dict[str, tuple[float, float]]]


def _party_layout(chart: CaseGraph, top: int) -> _Layout:
    """Every party by kind (most boxes first), the ``top`` of each kind that are drawn, the
    ties between drawn parties, and each drawn node's place: cards, institutions and doctors
    in three columns."""
    g = chart.graph
    by_kind: dict[str, list[str]] = {}
    for kind in ("card", "institution", "doctor"):
        members = [n for n, data in g.nodes(data=True) if data["type"] == kind]
        members.sort(key=lambda n: (-int(g.nodes[n].get("boxes", 0)), n))
        by_kind[kind] = members
    drawn = {kind: members[:top] for kind, members in by_kind.items()}
    shown = {n for members in drawn.values() for n in members}
    links = [link for link in party_links(chart) if link.party in shown and link.institution in shown]
    pos: dict[str, tuple[float, float]] = {}
    for x, kind in enumerate(("card", "institution", "doctor")):
        for i, node in enumerate(drawn[kind]):
            pos[node] = (float(x), 1.0 - (i + 0.5) / max(len(drawn[kind]), 1))
    return by_kind, drawn, links, pos


def graph_png(chart: CaseGraph, *, top: int = 14) -> bytes:
    """The case's parties on one A4-wide picture: cards (left) and doctors (right) tied to the
    institutions (middle) they bought or prescribed at, node and line sized by boxes, the top
    lines labelled with boxes and fund money. The ``top`` parties of each kind by boxes are
    drawn and named; how many more there are is said under the chart (every box is in the
    dossier's box table)."""
    g = chart.graph
    by_kind, drawn, links, pos = _party_layout(chart, top)
    most = max([int(g.nodes[n].get("boxes", 0)) for n in pos] + [1])
    heaviest = max([link.boxes for link in links] + [1])
    with plt.rc_context(_RC):  # type: ignore[arg-type]
        fig, ax = plt.subplots(figsize=(11, 8.5))
        for rank, link in enumerate(links):
            (x0, y0), (x1, y1) = pos[link.party], pos[link.institution]
            ax.plot(
                [x0, x1], [y0, y1], color="#555555", alpha=0.45, lw=0.6 + 5 * link.boxes / heaviest, zorder=1
            )
            if rank < 10:
                # Near the card's or doctor's end: the middle is the institutions' names.
                ax.text(
                    x0 + 0.2 * (x1 - x0),
                    y0 + 0.2 * (y1 - y0),
                    f"{link.boxes} · ¥{link.fund_fen / 100:,.2f}",
                    fontsize=6.5,
                    ha="center",
                    va="center",
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8},
                    zorder=3,
                )
        for node, (px, py) in pos.items():
            data = g.nodes[node]
            boxes = int(data.get("boxes", 0))
            ax.scatter(
                [px],
                [py],
                s=40 + 500 * boxes / most,
                color=COLOURS[data["type"]],
                edgecolors="white",
                zorder=2,
            )
            label = f"{_short(str(data['label']), 16)}  {boxes} · ¥{data.get('fund', '')}"
            left = data["type"] == "card"
            ax.text(
                px + (-0.06 if left else 0.06),
                py,
                label,
                fontsize=7,
                va="center",
                ha="right" if left else "left",
                zorder=3,
            )
        for x, (kind, title) in enumerate(
            (("card", "Cards 医保卡"), ("institution", "Institutions 机构"), ("doctor", "Doctors 医生"))
        ):
            ax.text(
                x,
                1.04,
                f"{title}\n{len(drawn[kind])} of {len(by_kind[kind])}",
                ha="center",
                va="bottom",
                fontsize=9,
            )
        ax.set_xlim(-0.9, 2.9)
        ax.set_ylim(-0.04, 1.12)
        ax.set_axis_off()
        hidden = {kind: len(by_kind[kind]) - len(drawn[kind]) for kind in by_kind}
        note = ", ".join(f"{n} {kind}s" for kind, n in hidden.items() if n > 0)
        ax.set_title(
            f"Link chart 关系图 — case {chart.case_id}: boxes and fund money per card, institution, doctor",
            fontsize=10,
        )
        if note:
            fig.text(
                0.5,
                0.01,
                f"Not drawn (fewer boxes): {note}. Every box and its sale is in the box table (section 7).",
                ha="center",
                fontsize=8,
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
            # A shipment is often hours from a seizure, its line under the seizure's at this
            # scale: a mark at the top of each panel keeps it in sight.
            shipped = [e.time for e in timeline.events if e.kind == "shipment"]
            if shipped:
                ax.scatter(shipped, [-0.55] * len(shipped), marker="v", s=60, color="#8c564b", zorder=4)
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
        top.set_title(f"Timeline 时间线 — case {timeline.case_id}", fontsize=10, loc="left")
        # Above the plot, not on it: inside, it covered the first lane.
        top.legend(
            handles=[
                Line2D([], [], marker="o", ls="", color="#1f77b4", label="sale 销售"),
                Line2D([], [], marker="x", ls="", color="#ff7f0e", label="return 退货"),
                Line2D([], [], color="#d62728", label="seizure 查获"),
                Line2D([], [], color="#8c564b", ls="--", marker="v", label="shipment 寄递"),
            ],
            loc="lower right",
            bbox_to_anchor=(1.0, 1.0),
            borderaxespad=0.2,
            fontsize=7,
            ncol=4,
            frameon=False,
        )
        if not timeline.events:
            top.text(0.5, 0.5, "no dated events", transform=top.transAxes, ha="center")
        return _png(fig)
