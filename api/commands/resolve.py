"""``rxtrace resolve``: seized codes to the insurance sales that paid for them."""

from __future__ import annotations

import typer

from rxtrace.api import persons
from rxtrace.api.commands.common import FormatOption, app_context, audit_shown
from rxtrace.api.documents import resolution_document
from rxtrace.api.output import Format, err, out, print_csv, print_json, print_table
from rxtrace.trace.errors import RxtraceError
from rxtrace.trace.protect import mask_id
from rxtrace.trace.resolve.service import Resolution, resolve_case, resolve_codes, resolve_seizure

__all__ = ["print_resolution", "register"]


def resolve(
    ctx: typer.Context,
    codes: list[str] = typer.Argument(None, help="Codes as read, in any written form."),
    case: str | None = typer.Option(None, "--case", help="Every box of every seizure of this case."),
    seizure: str | None = typer.Option(None, "--seizure", help="Every box of this seizure."),
    output: Format = FormatOption(),
    top: int = typer.Option(10, "--top", min=1, help="How many cards, institutions and doctors to rank."),
) -> None:
    """Resolve codes (given, or of a seizure or case): status, source sale, the fund's loss."""
    chosen = [bool(codes), case is not None, seizure is not None]
    if sum(chosen) != 1:
        raise RxtraceError("Give exactly one of: CODE..., --case ID, --seizure ID.")
    app = app_context(ctx)
    with app.session() as session:
        if case is not None:
            resolution = resolve_case(case, session=session)
        elif seizure is not None:
            resolution = resolve_seizure(seizure, session=session)
        else:
            resolution = resolve_codes(codes, session=session)
        audit_shown(
            session,
            command="resolve",
            params={"codes": len(codes or []), "case": case, "seizure": seizure},
            persons=persons.in_resolution(resolution),
            revealed=app.settings.show_sensitive,
        )
    print_resolution(resolution, output, reveal=app.settings.show_sensitive, top=top)


def print_resolution(
    resolution: Resolution, output: Format, *, reveal: bool, top: int = 10, boxes: bool = True
) -> None:
    if output is Format.json:
        print_json(resolution_document(resolution, reveal=reveal, top=top, stream=True))
        return
    rows = [
        (
            box.code,
            box.key,
            box.family,
            str(box.status),
            (box.product or {}).get("name"),
            len(box.sales),
            box.sales[0].setl_id if box.sales else None,
            ";".join(sorted({s.fixmedins_code for s in box.sales})),
            ";".join(sorted({s.psn_no if reveal else mask_id(s.psn_no) for s in box.sales})),
            box.fund_loss,
            "yes" if box.clone_suspect else "",
            box.via_case,
            box.seizure_id,
            box.parse_error
            or "; ".join(
                [
                    *box.clone_reasons,
                    *(f"settlement {s} uploaded twice minutes apart (one sale)" for s in box.repeat_uploads),
                ]
            ),
        )
        for box in resolution.boxes
    ]
    columns = (
        "code",
        "key",
        "family",
        "status",
        "product",
        "sales",
        "first setl_id",
        "institutions",
        "cards",
        "fund_loss",
        "clone",
        "via_case",
        "seizure_id",
        "why",
    )
    if output is Format.csv:
        print_csv(columns, rows)
        return
    summary = resolution.summary
    scope = ", ".join(f"{k} {v}" for k, v in resolution.scope.items() if not isinstance(v, list))
    print_table(
        f"Resolution ({scope})" if scope else "Resolution",
        ("status", "boxes"),
        [(status, count) for status, count in summary.statuses.items()] + [("total", summary.boxes)],
        caption=f"fund loss {summary.fund_loss} yuan; {summary.clone_suspects} suspected clone(s)",
    )
    document = summary.to_dict(reveal=reveal, top=top)
    for label, key in (
        ("Cards", "top_cards"),
        ("Institutions", "top_institutions"),
        ("Doctors", "top_doctors"),
    ):
        ranked = document[key]["by_boxes"]
        if ranked:
            print_table(
                f"Top {label.lower()} by boxes",
                ("id", "name", "boxes", "fund_loss"),
                [(r["id"], r["name"], r["boxes"], r["fund_loss"]) for r in ranked],
            )
    if boxes:
        print_table("Boxes", columns[:1] + columns[3:], [r[:1] + r[3:] for r in rows])
    if not rows:
        err.print("No codes to resolve.")
    out.print()


def register(app: typer.Typer) -> None:
    app.command("resolve")(resolve)
