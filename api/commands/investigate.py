"""``rxtrace leads``, ``lead``, ``graph``, ``timeline`` and ``report``: from resolved boxes to
the people and places behind them, and to a dossier a prosecutor can read."""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from rxtrace.api import persons
from rxtrace.api.commands.common import FormatOption, app_context, audit_shown, leads_basis
from rxtrace.api.documents import lead_document, leads_document
from rxtrace.api.dossier import ReportFormat
from rxtrace.api.output import Format, err, print_csv, print_json, print_table, to_jsonable
from rxtrace.trace.errors import RxtraceError
from rxtrace.trace.investigate.params import LeadKind, LeadStatus
from rxtrace.trace.resolve import resolve_case

if TYPE_CHECKING:
    from rxtrace.trace.investigate.params import Lead
    from rxtrace.trace.investigate.workflow import StoredLead

__all__ = ["LeadCaseOption", "LeadKindOption", "LeadLimitOption", "print_leads", "register"]


class GraphFormat(StrEnum):
    table = "table"
    graphml = "graphml"
    json = "json"
    png = "png"


class TimelineFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"
    png = "png"


# The options `rxtrace leads` shares with `rxtrace spark leads`.
LeadKindOption = typer.Option(None, "--kind", help="Only leads of this kind.")
LeadCaseOption = typer.Option(
    None,
    "--case",
    help="Seizures of this case only, and the cards, institutions, doctors and codes behind its boxes.",
)
LeadLimitOption = typer.Option(50, "--limit", min=0, help="Show at most this many (0: all).")


def leads(
    ctx: typer.Context,
    kind: LeadKind | None = LeadKindOption,
    case: str | None = LeadCaseOption,
    output: Format = FormatOption(),
    limit: int = LeadLimitOption,
    save: bool = typer.Option(
        True, "--save/--no-save", help="Raise the leads found (new ones get a number and status)."
    ),
) -> None:
    """Score cards, institutions, doctors and codes by explainable rules, highest first."""
    from rxtrace.trace.investigate import find_leads, save_leads

    app = app_context(ctx)
    reveal = app.settings.show_sensitive
    with app.session() as session:
        leads_basis(session)
        found = find_leads(session=session, kind=kind.value if kind else None, case_id=case)
        stored = save_leads(found, session=session, scope=case) if save else []
        audit_shown(
            session,
            command="leads",
            params={"kind": kind.value if kind else None, "case": case, "limit": limit},
            persons=persons.in_leads(found if limit == 0 else found[:limit]),
            revealed=reveal,
        )
    print_leads(found, stored, output, reveal=reveal, limit=limit, case=case)


def print_leads(
    found: Sequence[Lead],
    stored: Sequence[StoredLead],
    output: Format,
    *,
    reveal: bool,
    limit: int,
    case: str | None,
) -> None:
    """The leads as `rxtrace leads` prints them (``stored``: their numbers and statuses)."""
    numbers = {(s.lead.kind, s.lead.id): (s.lead_id, s.status) for s in stored}
    shown = found if limit == 0 else found[:limit]
    if output is Format.json:
        print_json(leads_document(found, stored, reveal=reveal, limit=limit, case_id=case))
        return
    rows = []
    for lead in shown:
        lead_id, status = numbers.get((lead.kind, lead.id), (None, None))
        rows.append(
            (
                lead_id,
                status,
                lead.kind,
                lead.display_id(reveal=reveal),
                lead.name,
                f"{lead.score:.2f}",
                "; ".join(f"{r.rule} {r.contribution:.2f}" for r in lead.rules),
                " ".join(lead.setl_ids[:5]) + (" …" if len(lead.setl_ids) > 5 else ""),
            )
        )
    columns = ("lead", "status", "kind", "id", "name", "score", "rules", "setl_ids")
    if output is Format.csv:
        print_csv(columns, rows)
        return
    print_table(
        f"Leads{f' for case {case}' if case else ''}",
        columns,
        rows,
        caption=f"{len(shown)} of {len(found)} shown; `rxtrace lead N` shows one with "
        "its evidence and history",
    )
    if not found:
        err.print("No rule fired.")


def lead(
    ctx: typer.Context,
    lead_id: str = typer.Argument(..., help="The lead's number, as `rxtrace leads` shows it."),
    status: LeadStatus | None = typer.Option(None, "--status", help="Move the lead to this status."),
    note: str | None = typer.Option(None, "--note", help="Why (required to close or reopen)."),
    by: str | None = typer.Option(None, "--by", help="Who (default: the operating-system user)."),
    output: Format = FormatOption(),
) -> None:
    """Show a lead with its evidence and history, or move it: new → investigating → escalated
    → closed."""
    from rxtrace.trace.investigate import change_status, lead_history

    number = _lead_number(lead_id)
    app = app_context(ctx)
    reveal = app.settings.show_sensitive
    with app.session() as session:
        if status is None and note is None:
            stored, events = lead_history(number, session=session)
        else:
            stored, events = change_status(
                number, session=session, status=status.value if status else None, note=note, by=by
            )
        audit_shown(
            session,
            command="lead",
            params={"lead": number},
            persons=persons.in_leads([stored.lead]),
            revealed=reveal,
        )
        document = lead_document(stored, events, reveal=reveal, session=session)
    if output is Format.json:
        print_json(document)
        return
    history = [(e.at, e.by, e.from_status or "", e.to_status, e.note or "") for e in events]
    if output is Format.csv:
        print_csv(("at", "by", "from", "to", "note"), history)
        return
    shown = stored.lead
    print_table(
        f"Lead {stored.lead_id}: {shown.kind} {shown.display_id(reveal=reveal)} "
        f"{shown.name or ''} — {stored.status}",
        ("rule", "contribution", "why", "setl_ids"),
        [
            (r.title, f"{r.contribution:.2f}", r.detail, " ".join(r.evidence.get("setl_ids", [])[:8]))
            for r in shown.rules
        ],
        caption=f"score {shown.score:.2f}",
    )
    print_table("History", ("at", "by", "from", "to", "note"), history)


def _lead_number(text: str) -> int:
    match = re.fullmatch(r"(?i)L?-?(\d+)", text.strip())
    if match is None:
        raise RxtraceError(f"'{text}' is not a lead number (like 12 or L12).")
    return int(match.group(1))


def graph(
    ctx: typer.Context,
    case: str = typer.Option(..., "--case", help="The case to chart."),
    output: GraphFormat | None = typer.Option(
        None,
        "--format",
        "-f",
        case_sensitive=False,
        help="table (a summary; the default on a terminal), json (the default otherwise), graphml or png.",
    ),
    out: Path | None = typer.Option(None, "--out", help="Write here (png: required)."),
) -> None:
    """The case's link chart: seizure → box → code → sale → card / institution / doctor."""
    from rxtrace.trace.investigate.graph import build_case_graph, graph_document

    if output is None:
        output = GraphFormat.table if sys.stdout.isatty() and out is None else GraphFormat.json
    if output is GraphFormat.png and out is None:
        raise RxtraceError("A PNG needs a file to go to: give --out FILE.png.")
    app = app_context(ctx)
    with app.session() as session:
        resolution = resolve_case(case, session=session)
        chart = build_case_graph(
            case, session=session, reveal=app.settings.show_sensitive, resolution=resolution
        )
        audit_shown(
            session,
            command="graph",
            params={"case": case, "format": output.value},
            persons=persons.in_resolution(resolution),
            revealed=app.settings.show_sensitive,
        )
    if output is GraphFormat.table:
        counts = chart.counts()
        print_table(f"Link chart of case {case}", ("nodes", "count"), list(counts.items()))
        print_table(
            "Hubs (most connected)",
            ("node", "type", "label", "boxes", "fund", "centrality"),
            [(h.node, h.type, h.label, h.boxes, h.fund, f"{h.centrality:.3f}") for h in chart.hubs],
            caption="--format json, graphml or png (with --out) for the whole chart",
        )
        return
    if output is GraphFormat.png:
        from rxtrace.api.dossier.charts import graph_png

        assert out is not None  # refused above
        target = out
        target.write_bytes(graph_png(chart))
        err.print(f"link chart written to {target}")
        return
    if output is GraphFormat.graphml:
        import networkx as nx

        if out is None:
            nx.write_graphml(chart.graph, sys.stdout.buffer)
            sys.stdout.flush()
        else:
            nx.write_graphml(chart.graph, str(out))
            err.print(f"link chart written to {out}")
        return
    document = graph_document(chart)
    if out is None:
        print_json(document)
    else:
        out.write_text(
            json.dumps(to_jsonable(document), ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )
        err.print(f"link chart written to {out}")


def timeline(
    ctx: typer.Context,
    case: str = typer.Option(..., "--case", help="The case to lay out in time."),
    output: TimelineFormat = typer.Option(
        TimelineFormat.table, "--format", "-f", case_sensitive=False, help="table, json, csv or png."
    ),
    out: Path | None = typer.Option(None, "--out", help="Where to write the png."),
) -> None:
    """Sales, returns, seizures and shipments of a case on one time axis."""
    from rxtrace.trace.investigate.timeline import case_timeline

    if output is TimelineFormat.png and out is None:
        raise RxtraceError("A PNG needs a file to go to: give --out FILE.png.")
    app = app_context(ctx)
    with app.session() as session:
        resolution = resolve_case(case, session=session)
        line = case_timeline(case, session=session, reveal=app.settings.show_sensitive, resolution=resolution)
        audit_shown(
            session,
            command="timeline",
            params={"case": case, "format": output.value},
            persons=persons.in_resolution(resolution),
            revealed=app.settings.show_sensitive,
        )
    if output is TimelineFormat.png:
        from rxtrace.api.dossier.charts import timeline_png

        assert out is not None  # refused above
        target = out
        target.write_bytes(timeline_png(line))
        err.print(f"timeline written to {target}")
        return
    if output is TimelineFormat.json:
        print_json(line.to_dict())
        return
    columns = ("time", "kind", "card", "institution", "setl_id", "box", "fund", "label")
    rows = [(e.time, e.kind, e.card, e.institution, e.setl_id, e.box, e.fund, e.label) for e in line.events]
    if output is TimelineFormat.csv:
        print_csv(columns, rows)
        return
    print_table(
        f"Timeline of case {case}",
        columns,
        rows,
        caption=f"{len(rows)} events from {line.start} to {line.end}",
    )


def report(
    ctx: typer.Context,
    case: str = typer.Option(..., "--case", help="The case to write up."),
    output: ReportFormat = typer.Option(
        ReportFormat.html, "--format", "-f", case_sensitive=False, help="html, pdf, xlsx or csv."
    ),
    out: Path | None = typer.Option(None, "--out", help="Default: dossier-<case>.<format>."),
    maps: list[str] = typer.Option([], "--map", help="NAME=PNG file of a map to embed (repeatable)."),
    facts_json: bool = typer.Option(False, "--json", help="Print what was written as JSON."),
) -> None:
    """Write the case dossier: summary, boxes, leads, rankings, link chart, timeline, evidence
    hashes and parameters, readable without knowing rxtrace."""
    from rxtrace.api.dossier import write_report

    pictures: dict[str, Path] = {}
    for item in maps:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise RxtraceError(f"--map wants NAME=FILE.png, not '{item}'.")
        pictures[name] = Path(path)
    target = out or Path(f"dossier-{_safe(case)}.{output.value}")
    app = app_context(ctx)
    with app.session() as session:
        leads_basis(session)  # the dossier lists the case's leads
        dossier = write_report(
            case,
            session=session,
            fmt=output.value,
            out=target,
            maps=pictures,
            reveal=app.settings.show_sensitive,
        )
        digest = hashlib.sha256(target.read_bytes()).hexdigest()
        audit_shown(
            session,
            command="report",
            params={"case": case, "format": output.value, "file": str(target), "sha256": digest},
            persons=persons.in_case(case, session=session),
            revealed=app.settings.show_sensitive,
        )
    facts = {
        "case_id": case,
        "file": str(target),
        "format": output.value,
        "boxes": dossier.summary.boxes,
        "fund_loss": dossier.fund_loss,
        "leads": len(dossier.leads),
        "sha256": digest,
        "rxtrace": dossier.version,
    }
    if facts_json:
        print_json(facts)
    else:
        print_table("Dossier written", ("what", "value"), list(facts.items()))


def _safe(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name)


def register(app: typer.Typer) -> None:
    app.command("leads")(leads)
    app.command("lead")(lead)
    app.command("graph")(graph)
    app.command("timeline")(timeline)
    app.command("report")(report)
