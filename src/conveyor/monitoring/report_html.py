"""The monitoring report as HTML: one self-contained page from plain data.

``render_report`` turns plain data (an ``Assessment``, a ``History``, the reference profile,
firing alerts) into HTML with inline CSS and inline SVG plots drawn by matplotlib: nothing is
fetched when the file is opened, so it can be mailed, attached to a ticket or archived.
Every value from data is escaped (feature names can hold anything), and so is the ``$`` that
matplotlib would read as mathtext. A window too small to judge says so in words instead of
drawing plots of nothing.

Each plot (``conveyor.monitoring.plots``) is an ``<svg data-plot="KIND">`` inside a
``<figure>``; distribution figures also carry ``data-feature``. Kinds: psi, distribution,
requests, latency, errors, performance, coverage.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from html import escape
from typing import TYPE_CHECKING, Any

from conveyor.monitoring.drift import Status
from conveyor.monitoring.drift.result import evidence_names
from conveyor.monitoring.plots import (
    BASELINE,
    CURRENT,
    MAX_PSI_BARS,
    REFERENCE,
    STATUS_COLOUR,
    Svg,
    plotting,
)
from conveyor.monitoring.report_css import CSS

if TYPE_CHECKING:
    from conveyor.monitoring.assess import Assessment
    from conveyor.monitoring.drift import FeatureDrift
    from conveyor.monitoring.history import Alert, History
    from conveyor.spec.models import AlertSpec

ORDER = {Status.DRIFT: 0, Status.WARN: 1, Status.INSUFFICIENT_DATA: 2, Status.OK: 3}


def render_report(
    assessment: Assessment,
    history: History,
    profile: Mapping[str, Any],
    *,
    alerts: Sequence[Alert] = (),
    limits: AlertSpec | None = None,
    generated_at: datetime | None = None,
    alert_minutes: float | None = None,
) -> str:
    """The whole report as one HTML document (inline CSS and SVG, no scripts). ``limits``:
    the version's alert thresholds, drawn as reference lines (default: the defaults);
    ``alert_minutes``: the window the server's alerts judge (default: the report's)."""
    from conveyor.spec.models import AlertSpec

    generated_at = generated_at or datetime.now(UTC)
    ident = f"{assessment.model} v{assessment.version}"
    with plotting() as svg:
        body = [
            _header(assessment, history, alerts, generated_at, alert_minutes),
            _summary(assessment, history),
            _alerts(alerts),
            _drift(assessment, svg),
            _distributions(assessment, history, profile, svg),
            _timeline(history, limits or AlertSpec(), svg),
            _footer(assessment),
        ]
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Monitoring report: {escape(ident)}</title><style>{CSS}</style></head>"
        f"<body><main>{''.join(body)}</main></body></html>\n"
    )


def _badge(status: str, text: str | None = None) -> str:
    label = text or status.replace("_", " ")
    return f'<span class="badge {escape(status)}">{escape(label)}</span>'


def _num(value: float | None, fmt: str = ".3f", suffix: str = "") -> str:
    return "—" if value is None else f"{value:{fmt}}{suffix}"


def _p(value: float | None) -> str:
    return "&lt; 1e-16" if value is not None and value < 1e-16 else _num(value, ".2g")


def _when(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _header(
    a: Assessment,
    h: History,
    alerts: Sequence[Alert],
    generated: datetime,
    alert_minutes: float | None = None,
) -> str:
    # each verdict names the window it was judged on: this report's drift on the report's
    # window, the server's alerts on the version's monitoring window (they may differ)
    drift = a.drift.status.value
    badges = [_badge(drift, f"drift: {drift.replace('_', ' ')} (last {a.window_minutes:g} min)")]
    judged = f" (alerts judge the last {alert_minutes or a.window_minutes:g} min)"
    if alerts:
        noun = "alert" if len(alerts) == 1 else "alerts"
        badges.append(_badge("drift", f"{len(alerts)} {noun} firing{judged}"))
    else:
        badges.append(_badge("ok", f"no alerts firing{judged}"))
    if not h.requests:
        badges.append(_badge("insufficient_data", "no traffic"))
    window = f"last {a.window_minutes:g} min: {_when(h.start)} → {_when(h.end)}"
    return (
        f"<header><h1>{escape(a.model)} <small>version {escape(a.version)}</small></h1>"
        f'<p class="meta">Window {escape(window)} · generated {escape(_when(generated))}</p>'
        f'<p class="badges">{"".join(badges)}</p></header>'
    )


def _summary(a: Assessment, h: History) -> str:
    health, perf = a.health, a.performance
    metric = h.metric
    online, baseline = perf.online.get(metric), perf.baseline.get(metric)
    cards = [
        ("requests", f"{health.requests:,}", f"{health.per_minute:.1f} / min"),
        (
            "latency p50 / p99",
            f"{_num(health.p50_ms, '.1f')} / {_num(health.p99_ms, '.1f')} ms",
            "",
        ),
        (
            "server errors",
            _num(health.error_rate, ".2%"),
            f"client errors {_num(health.client_error_rate, '.2%')}",
        ),
        (f"online {metric}", _num(online), f"training {_num(baseline)}"),
        (
            "label coverage",
            _num(perf.coverage, ".1%"),
            f"{perf.labeled_rows:,} of {perf.predicted_rows:,} rows",
        ),
    ]
    items = "".join(
        f'<div class="card"><div class="k">{escape(k)}</div><div class="v">{escape(v)}</div>'
        f'<div class="s">{escape(s)}</div></div>'
        for k, v, s in cards
    )
    return f'<section id="summary" class="cards">{items}</section>'


def _alerts(alerts: Sequence[Alert]) -> str:
    if not alerts:
        return ""
    rows = "".join(
        f"<tr><td>{escape(a.rule)}</td><td>{_badge(_severity(a.severity), a.severity)}</td>"
        f"<td>{escape(a.version)}</td><td>{escape(_when(a.started_at))}</td>"
        f"<td>{escape(_num(a.value, '.4g'))} / {escape(_num(a.threshold, '.4g'))}</td>"
        f"<td>{escape(a.message)}</td></tr>"
        for a in alerts
    )
    return (
        '<section id="alerts"><h2>Firing alerts</h2><table><thead><tr><th>rule</th>'
        "<th>severity</th><th>version</th><th>since</th><th>value / threshold</th>"
        f"<th>message</th></tr></thead><tbody>{rows}</tbody></table></section>"
    )


def _severity(severity: str) -> str:
    return "drift" if severity.lower() in ("critical", "page", "error") else "warn"


def _ordered(a: Assessment) -> list[FeatureDrift]:
    return sorted(a.drift.all, key=lambda f: (ORDER[f.status], -(f.psi or 0.0)))


def _notice(title: str, html: str) -> str:
    """A boxed explanation; ``html`` is markup (callers escape what comes from data)."""
    return f'<div class="notice"><strong>{escape(title)}</strong> {html}</div>'


def _drift(a: Assessment, svg: Svg) -> str:
    report, config = a.drift, a.drift.config
    rows = max((f.rows_cur for f in report.all), default=0)
    parts = ['<section id="drift"><h2>Drift against the training data</h2>']
    if report.status is Status.INSUFFICIENT_DATA:
        parts.append(
            _notice(
                "Insufficient data to judge drift.",
                f"The window holds {rows:,} rows; a verdict needs at least {config.min_rows:,}. "
                "The statistics below are shown as they are; no distributions are drawn.",
            )
        )
    else:
        features = [f for f in _ordered(a) if f.psi is not None]
        if features:
            parts.append(_psi_figure(features, a, svg))
    parts.append(_drift_table(a))
    parts.append("</section>")
    return "".join(parts)


def _drift_table(a: Assessment) -> str:
    def share(ref: float, cur: float) -> str:
        return f"{ref:.1%} → {cur:.1%}" if ref or cur else "—"

    extra = evidence_names(a.drift)  # every other registered statistic measured: a column each
    rows = []
    for f in _ordered(a):
        name = escape(f.name)
        if f is a.drift.prediction:
            name = f'{name} <span class="tag">model output</span>'
        rows.append(
            f'<tr class="{escape(f.status.value)}"><td class="name">{name}</td>'
            f"<td>{escape(f.kind)}</td><td>{_badge(f.status.value)}</td>"
            f"<td>{escape(f.test or '—')}</td><td>{_p(f.p_adjusted)}</td>"
            f"<td>{_num(f.psi)}</td><td>{_num(f.distance)}</td>"
            + "".join(f"<td>{_num(f.evidence.get(n))}</td>" for n in extra)
            + f"<td>{share(f.missing_share_ref, f.missing_share_cur)}</td>"
            f"<td>{_num(f.unseen_share, '.1%')}</td><td>{f.rows_cur:,}</td>"
            f'<td class="why">{escape("; ".join(f.reasons))}</td></tr>'
        )
    head = (
        "<th>feature</th><th>kind</th><th>status</th><th>test</th><th>p adj</th><th>PSI</th>"
        "<th>distance</th>"
        + "".join(f"<th>{escape(n)}</th>" for n in extra)
        + "<th>missing ref → now</th><th>unseen</th><th>rows</th><th>why</th>"
    )
    return (
        f'<table class="drift"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )


def _distributions(a: Assessment, h: History, profile: Mapping[str, Any], svg: Svg) -> str:
    from conveyor.monitoring.samples import (
        CategoryCounts,
        NumericBins,
        NumericReference,
        reference_from_profile,
    )

    if a.drift.status is Status.INSUFFICIENT_DATA:
        return ""
    figures = []
    rows = int(profile.get("rows", 0))
    features: Mapping[str, Any] = profile.get("features", {})
    for f in _ordered(a):
        is_prediction = f is a.drift.prediction
        if f.rows_cur == 0 or (not is_prediction and f.status not in (Status.DRIFT, Status.WARN)):
            continue
        entry = profile.get("prediction") if is_prediction else features.get(f.name)
        counter = h.window.prediction if is_prediction else h.window.features.get(f.name)
        if not entry or counter is None:
            continue
        reference = reference_from_profile(entry, 0 if is_prediction else rows)
        current = counter.snapshot()
        label = "the model's predictions" if is_prediction else f"feature {f.name}"
        if isinstance(reference, NumericReference) and isinstance(current, NumericBins):
            plot = svg.numeric(reference, current)
            how = "density over the reference's quantile bins; shaded: outside the reference range"
        elif isinstance(reference, CategoryCounts) and isinstance(current, CategoryCounts):
            plot = svg.categorical(reference, current)
            how = "share of values per category; categories the reference never saw are 'unseen'"
        else:
            continue
        missing = ""
        if f.missing_share_ref or f.missing_share_cur:
            missing = (
                f" Missing: {f.missing_share_ref:.1%} in training, {f.missing_share_cur:.1%} now."
            )
        caption = (
            f"<strong>{escape(label)}</strong> {_badge(f.status.value)} — reference (training) "
            f"vs the window: {escape(how)}. PSI {_num(f.psi)}.{escape(missing)}"
        )
        figures.append(_figure(plot, caption, feature=f.name))
    if not figures:
        return ""
    return (
        '<section id="distributions"><h2>Distributions: training vs the window</h2>'
        f'<div class="grid">{"".join(figures)}</div></section>'
    )


def _timeline(h: History, limits: AlertSpec, svg: Svg) -> str:
    head = f'<section id="timeline"><h2>Over the window <small>({h.step_minutes} min steps)</small></h2>'
    if not h.requests:
        text = (
            "No requests were recorded for this version in the window. The server's live "
            "monitor writes per-minute counts while <code>conveyor serve</code> handles traffic."
        )
        return head + _notice("No traffic.", text) + "</section>"
    steps, red = h.steps, STATUS_COLOUR["drift"]
    first = next(i for i, s in enumerate(steps) if s.requests)
    if first:  # the charts start at the first request (plots._time_axis)
        began = steps[first].start.strftime("%Y-%m-%d %H:%M UTC")
        head = head.replace("</small></h2>", f"; first request at {began}</small></h2>")
    p50, p99 = [s.p50_ms for s in steps], [s.p99_ms for s in steps]
    server = [s.error_rate for s in steps]
    client = [s.client_errors / s.requests if s.requests else None for s in steps]
    latency = svg.series(
        h, "latency", "ms", [(p50, "p50", REFERENCE), (p99, "p99", CURRENT)],
        [(limits.latency_p99_ms, f"p99 alert {limits.latency_p99_ms:g} ms", red)],
    )  # fmt: skip
    errors = svg.series(
        h, "errors", "share of requests", [(server, "5xx", red), (client, "4xx", STATUS_COLOUR["warn"])],
        [(limits.error_rate, f"5xx alert {limits.error_rate:.1%}", red)], percent=True,
    )  # fmt: skip
    figures = [
        _figure(svg.requests(h), "Requests per minute."),
        _figure(latency, "Latency p50 and p99 (ms), from the servers' latency histograms."),
        _figure(errors, "Error rates: server errors (5xx) and client errors (4xx)."),
    ]
    if not h.labeled:
        grid = f'<div class="grid">{"".join(figures)}</div>'
        text = (
            "Online accuracy and label coverage need labels: POST them to "
            "<code>/feedback</code> with the request id of the prediction."
        )
        return head + grid + _notice("No feedback yet.", text) + "</section>"
    refs: list[tuple[float, str, str]] = []
    if h.baseline is not None:
        refs.append((h.baseline, f"training {h.baseline:.3f}", BASELINE))
        if h.metric == "accuracy":
            floor = h.baseline - limits.accuracy_drop
            refs.append((floor, f"alert below {floor:.3f}", red))
    metric = [s.metric for s in steps]
    performance = svg.series(h, "performance", h.metric, [(metric, "online", CURRENT)], refs)
    least = limits.min_label_coverage
    coverage = svg.series(
        h, "coverage", "labelled rows", [([s.coverage for s in steps], None, REFERENCE)],
        [(least, f"judged from {least:.0%}", red)], percent=True,
    )  # fmt: skip
    name = "accuracy" if h.metric == "accuracy" else "mean absolute error"
    figures += [
        _figure(performance, f"Online {name} from feedback (by when the prediction was made) against the training holdout."),
        _figure(coverage, "Label coverage: the share of predicted rows with feedback."),
    ]  # fmt: skip
    return head + f'<div class="grid">{"".join(figures)}</div></section>'


def _figure(svg: str, caption: str, feature: str | None = None) -> str:
    attr = f' data-feature="{escape(feature)}"' if feature is not None else ""
    return f'<figure class="plot"{attr}>{svg}<figcaption>{caption}</figcaption></figure>'


def _psi_figure(features: list[FeatureDrift], a: Assessment, svg: Svg) -> str:
    shown = features[:MAX_PSI_BARS]
    more = (
        f" The {len(shown)} most severe of {len(features)} are shown."
        if len(features) > len(shown)
        else ""
    )
    config = a.drift.config
    caption = (
        f"PSI per feature (bins of the reference), coloured by status; dashed lines: warn at "
        f"{config.psi_warn:g}, alert at {config.psi_alert:g}. A change needs a significant "
        f"test as well as the PSI to count.{more}"
    )
    return _figure(svg.psi(shown, config.psi_warn, config.psi_alert), escape(caption))


def _footer(a: Assessment) -> str:
    c = a.drift.config
    text = (
        f"{a.drift.tests} tests, {c.correction}-corrected at alpha {c.alpha:g}; PSI warn "
        f"{c.psi_warn:g} / alert {c.psi_alert:g}; missing share warn {c.missing_warn:.0%} / "
        f"alert {c.missing_alert:.0%}; unseen share warn {c.unseen_warn:.0%} / alert "
        f"{c.unseen_alert:.0%}; at least {c.min_rows} rows to judge."
    )
    return f"<footer>Drift settings: {escape(text)}</footer>"
