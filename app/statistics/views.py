"""The statistics page and its CSV tables (Radiologist, Administrator)."""

from __future__ import annotations

import csv
import io

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from app.audit import trail as audit
from app.statistics import charts, collect

TABLES = ("confusion", "classes", "summary", "turnaround", "per_day", "per_user")


def _context(request: HttpRequest) -> dict[str, object]:
    params = {k: request.GET.get(k, "").strip() for k in ("period", "from", "to", "pack")}
    period, errors = collect.period_from(params)
    packs = collect.signed_reads(period)
    chosen = params["pack"] if params["pack"] in packs else collect.default_pack(packs)
    context: dict[str, object] = {"params": params, "period": period, "errors": errors, "packs": sorted(packs), "pack": chosen,
                                  "workload": collect.workload(period), "periods": collect.PERIODS}
    context["day_chart"] = charts.day_bars(context["workload"]["per_day"])
    if chosen:
        stats = packs[chosen]
        agreement = collect.agreement(stats)
        context |= {
            "agreement": agreement, "turnaround": collect.turnaround(stats), "reviewers": collect.per_reviewer(stats),
            "confusion_chart": charts.confusion_cells(agreement["matrix"], agreement["rows"], agreement["columns"]),
            "interval_chart": charts.intervals(agreement["classes"]), "interval_width": charts.INTERVAL_WIDTH,
        }
    return context


@require_GET
def statistics(request: HttpRequest) -> HttpResponse:
    return render(request, "statistics/statistics.html", _context(request))


@require_GET
def statistics_csv(request: HttpRequest, table: str) -> HttpResponse:
    if table not in TABLES:
        raise Http404("No such table")
    context = _context(request)
    rows = _table(table, context)
    buffer = io.StringIO()
    buffer.write("\ufeff")
    csv.writer(buffer).writerows(rows)
    audit.record(request.user, audit.EXPORTED, None, f"Statistics table {table} exported as CSV ({context['period'].start} to {context['period'].end})")
    response = HttpResponse(buffer.getvalue().encode("utf-8"), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="statistics-{table}-{timezone.localdate():%Y%m%d}.csv"'
    return response


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def _table(table: str, context: dict[str, object]) -> list[list[object]]:
    workload = context["workload"]
    if table == "per_day":
        return [["day", "films received"], *[[d["day"].isoformat(), d["films"]] for d in workload["per_day"]]]
    if table == "per_user":
        return [["user", "films uploaded", "first reads signed"], *[[name, n, ""] for name, n in workload["uploads"]], *[[name, "", n] for name, n in workload["reads"]]]
    agreement = context.get("agreement")
    if agreement is None:
        return [["no signed reads in this period"]]
    if table == "confusion":
        return [["radiologist \\ AI", *agreement["columns"]], *[[label, *row] for label, row in zip(agreement["rows"], agreement["matrix"])]]
    if table == "classes":
        header = ["class"] + [f"{m}_{part}" for m in ("sensitivity", "specificity", "ppv", "npv") for part in ("k", "n", "value", "low95", "high95")]
        body = []
        for c in agreement["classes"]:
            cells: list[object] = [c.label]
            for m in ("sensitivity", "specificity", "ppv", "npv"):
                p = getattr(c, m)
                low, high = p.interval or (None, None)
                cells += [p.k, p.n, _number(p.value), _number(low), _number(high)]
            body.append(cells)
        return [header, *body]
    if table == "turnaround":
        return [["span", "n", "median_minutes", "p90_minutes"], *[[t["span"], t["n"], _number(t["median"]), _number(t["p90"])] for t in context["turnaround"]]]
    rates = {k: agreement[k] for k in ("override_rate", "needs_review_rate", "flag_caught_overrides")}
    return [
        ["measure", "value", "k", "n", "low95", "high95"],
        ["pack", context["pack"], "", "", "", ""],
        ["reads", agreement["read"], "", "", "", ""],
        ["not assessable", agreement["not_assessable"], "", "", "", ""],
        ["cohen kappa", _number(agreement["kappa"]), "", agreement["kappa_n"], "", ""],
        *[[name, _number(p.value), p.k, p.n, *(_number(v) for v in (p.interval or (None, None)))] for name, p in rates.items()],
        ["voided in period", workload["voided"], "", "", "", ""],
    ]
