"""Plots of the monitoring report, drawn by matplotlib as inline ``<svg>`` elements.

Each plot is an ``<svg data-plot="KIND">`` with ids unique in the document (several SVGs share
one HTML page). Text stays text (``svg.fonttype: none``); labels from data are bounded and
``$`` is escaped so matplotlib never reads it as mathtext.
"""

from __future__ import annotations

import contextlib
import itertools
import re
from collections.abc import Iterator, Sequence
from datetime import UTC, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from conveyor.monitoring.drift import FeatureDrift
    from conveyor.monitoring.history import History
    from conveyor.monitoring.samples import CategoryCounts, NumericBins, NumericReference

REFERENCE, CURRENT, BASELINE = "#8a9bb0", "#d9480f", "#495057"
STATUS_COLOUR = {
    "ok": "#2b8a3e",
    "warn": "#e67700",
    "drift": "#c92a2a",
    "insufficient_data": "#868e96",
}
MAX_PSI_BARS = 40
MAX_CATEGORIES = 12
LABEL_CHARS = 28


@contextlib.contextmanager
def plotting() -> Iterator[Svg]:
    import matplotlib

    style = {
        "svg.fonttype": "none",  # text stays text: smaller files, selectable, searchable
        "font.family": "sans-serif",
        "font.size": 9,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": True,
        "grid.color": "#e9ecef",
        "axes.axisbelow": True,
        "legend.frameon": False,
    }
    with matplotlib.rc_context(style):  # type: ignore[arg-type]  # keys are rcParams names
        yield Svg()


def _text(value: str) -> str:
    """A data string as a matplotlib label: one line, bounded, ``$`` not mathtext."""
    flat = " ".join(value.split())
    if len(flat) > LABEL_CHARS:
        flat = flat[: LABEL_CHARS - 1] + "…"
    return flat.replace("$", r"\$")


class Svg:
    """Draws each plot kind as an inline ``<svg>`` with document-unique ids."""

    def __init__(self) -> None:
        self._serial = itertools.count(1)

    def _figure(self, width: float = 6.0, height: float = 2.6) -> tuple[Figure, Axes]:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(width, height), layout="constrained")
        return fig, fig.subplots()

    def _svg(self, fig: Figure, plot: str) -> str:
        import io

        buffer = io.StringIO()
        fig.savefig(buffer, format="svg", metadata={"Date": None})
        text = buffer.getvalue()
        text = text[text.index("<svg") :]
        text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, count=1, flags=re.S)
        prefix = f"{plot}{next(self._serial)}-"  # matplotlib's "figure_1", "axes_1"... repeat
        text = re.sub(r'\bid="', f'id="{prefix}', text)
        text = re.sub(r"url\(#", f"url(#{prefix}", text)
        text = re.sub(r'href="#', f'href="#{prefix}', text)
        return text.replace("<svg ", f'<svg data-plot="{plot}" role="img" ', 1)

    def psi(self, features: list[FeatureDrift], warn: float, alert: float) -> str:
        fig, ax = self._figure(width=11.0, height=1.0 + 0.22 * len(features))
        names = [_text(f.name) for f in features]
        values = [f.psi or 0.0 for f in features]
        colours = [STATUS_COLOUR[f.status.value] for f in features]
        ax.barh(range(len(features)), values, color=colours, height=0.7)
        ax.set_yticks(range(len(features)), names)
        ax.invert_yaxis()
        ax.grid(axis="y", visible=False)
        for x, colour, label in (
            (warn, STATUS_COLOUR["warn"], "warn"),
            (alert, STATUS_COLOUR["drift"], "alert"),
        ):
            ax.axvline(x, color=colour, linestyle="--", linewidth=1.2, label=f"{label} {x:g}")
        ax.legend(loc="lower right")
        ax.set_xlim(0, max([*values, alert]) * 1.15 or 1.0)
        ax.set_xlabel("PSI")
        return self._svg(fig, "psi")

    def numeric(self, reference: NumericReference, current: NumericBins) -> str:
        import numpy as np

        fig, ax = self._figure(width=5.0)
        edges = reference.bins.edges
        ref_counts = reference.bins.counts[1:-1].astype(float) if edges.size >= 2 else np.zeros(0)
        widths = np.diff(edges) if edges.size >= 2 else np.zeros(0)
        present = current.counts.sum()
        if widths.size == 0 or (widths <= 0).any():  # one reference value: below / at / above
            return self._single_value(fig, ax, reference, current)
        ax.stairs(
            ref_counts / max(ref_counts.sum(), 1) / widths,
            edges,
            fill=True,
            color=REFERENCE,
            alpha=0.55,
            label="training",
        )
        if present:
            inner = current.counts[1:-1] / present / widths
            ax.stairs(inner, edges, color=CURRENT, linewidth=2, label="window")
            span = edges[-1] - edges[0]
            for side, count, excess in (
                (-1, current.counts[0], current.below_excess),
                (1, current.counts[-1], current.above_excess),
            ):
                if not count:
                    continue
                width = min(max(2 * excess / count, widths.mean()), span)
                start = edges[0] - width if side < 0 else edges[-1]
                ax.axvspan(start, start + width, color="#f1f3f5", zorder=0)
                ax.stairs(
                    [count / present / width],
                    [start, start + width],
                    color=CURRENT,
                    linewidth=2,
                    linestyle=":",
                )
        else:
            ax.text(
                0.5,
                0.5,
                "no values in the window",
                transform=ax.transAxes,
                ha="center",
                color=CURRENT,
            )
        ax.set_ylabel("density")
        ax.legend(loc="upper right")
        return self._svg(fig, "distribution")

    def _single_value(
        self, fig: Figure, ax: Axes, reference: NumericReference, current: NumericBins
    ) -> str:
        value = float(reference.bins.edges[0]) if reference.bins.edges.size else float("nan")
        labels = [f"< {value:g}", f"= {value:g}", f"> {value:g}"]
        ref = reference.bins.counts.astype(float)
        cur = current.counts.astype(float)
        if ref.size != 3 or cur.size != 3:  # no reference values at all: nothing to compare
            ax.text(0.5, 0.5, "the reference has no values", transform=ax.transAxes, ha="center")
            ax.set_axis_off()
            return self._svg(fig, "distribution")
        return self._bars(fig, ax, labels, ref / max(ref.sum(), 1), cur / max(cur.sum(), 1))

    def categorical(self, reference: CategoryCounts, current: CategoryCounts) -> str:
        ref_total = max(sum(reference.counts.values()), 1)
        cur_total = max(current.present, 1)
        shares = {
            c: (n / ref_total, current.counts.get(c, 0) / cur_total)
            for c, n in reference.counts.items()
        }
        top = sorted(shares, key=lambda c: -max(shares[c]))[:MAX_CATEGORIES]
        labels = [_text(c) for c in top]
        ref = [shares[c][0] for c in top]
        cur = [shares[c][1] for c in top]
        rest = [c for c in shares if c not in top]
        if rest:
            labels.append(f"{len(rest)} others")
            ref.append(sum(shares[c][0] for c in rest))
            cur.append(sum(shares[c][1] for c in rest))
        labels.append("unseen")
        ref.append(0.0)
        cur.append(current.unseen / cur_total)
        fig, ax = self._figure(width=5.0, height=0.9 + 0.3 * len(labels))
        return self._bars(fig, ax, labels, ref, cur)

    def _bars(self, fig: Figure, ax: Axes, labels: list[str], ref: Any, cur: Any) -> str:
        import numpy as np

        y = np.arange(len(labels))
        ax.barh(y - 0.2, ref, height=0.4, color=REFERENCE, label="training")
        ax.barh(y + 0.2, cur, height=0.4, color=CURRENT, label="window")
        ax.set_yticks(y, labels)
        ax.invert_yaxis()
        ax.grid(axis="y", visible=False)
        ax.xaxis.set_major_formatter("{x:.0%}")
        ax.set_xlabel("share of values")
        ax.legend(loc="lower right")
        return self._svg(fig, "distribution")

    def requests(self, h: History) -> str:
        fig, ax = self._figure(width=5.0, height=2.3)
        x = _times(h, 0.0)
        per_minute = [s.requests / h.step_minutes for s in h.steps]
        ax.bar(x, per_minute, width=h.step_minutes / 1440 * 0.9, align="edge", color=REFERENCE)
        ax.set_ylabel("requests / min")
        _time_axis(ax, h)
        return self._svg(fig, "requests")

    def series(
        self,
        h: History,
        plot: str,
        ylabel: str,
        lines: Sequence[tuple[Sequence[float | None], str | None, str]],
        refs: Sequence[tuple[float, str, str]] = (),
        percent: bool = False,
    ) -> str:
        """Values per step as lines (gaps where a step has none), reference lines across."""
        import numpy as np

        fig, ax = self._figure(width=5.0, height=2.3)
        x = _times(h, 0.5)
        marker = "o" if len(x) <= 60 else None
        for values, label, colour in lines:
            y = np.array([np.nan if v is None else v for v in values], dtype=float)
            ax.plot(x, y, color=colour, marker=marker, markersize=3, label=label)
        for value, label, colour in refs:
            ax.axhline(value, color=colour, linestyle="--", linewidth=1.1, label=label)
        if percent:
            from matplotlib.ticker import PercentFormatter

            ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set_ylim(bottom=0)
        ax.set_ylabel(ylabel)
        _time_axis(ax, h)
        if any(label for _, label, _ in lines) or refs:
            ax.legend(loc="best", fontsize=8)
        return self._svg(fig, plot)


def _times(h: History, offset: float) -> list[float]:
    """Step starts (plus ``offset`` steps) as matplotlib date numbers."""
    from matplotlib.dates import date2num

    step = timedelta(minutes=h.step_minutes)
    return [float(date2num(s.start + step * offset)) for s in h.steps]  # type: ignore[no-untyped-call]


def _time_axis(ax: Axes, h: History) -> None:
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator(tz=UTC, maxticks=7)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=UTC))  # type: ignore[no-untyped-call]
    end = h.start + timedelta(minutes=h.step_minutes * len(h.steps))
    # from the first step with traffic: a version that served only the last minutes of a long
    # window is drawn over those minutes, not squeezed against the right edge
    first = next((i for i, s in enumerate(h.steps) if s.requests), 0)
    ax.set_xlim(_times(h, 0.0)[first], float(mdates.date2num(end)))  # type: ignore[no-untyped-call]
    ax.set_xlabel("UTC")
