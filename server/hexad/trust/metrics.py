"""How good a confidence is: reliability bins, ECE, Brier, AUROC, and a diagram."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape


@dataclass(frozen=True, slots=True)
class Bin:
    low: float
    high: float
    count: int
    mean_predicted: float
    observed: float  # share of good outcomes


def reliability(predicted: Sequence[float], outcomes: Sequence[bool], bins: int = 10) -> list[Bin]:
    """Equal-width bins over [0, 1]; empty bins are left out."""
    out: list[Bin] = []
    for k in range(bins):
        low, high = k / bins, (k + 1) / bins
        members = [
            (p, o)
            for p, o in zip(predicted, outcomes, strict=True)
            if low <= p < high or (k == bins - 1 and p == 1.0)
        ]
        if not members:
            continue
        out.append(
            Bin(
                low,
                high,
                len(members),
                sum(p for p, _ in members) / len(members),
                sum(1 for _, o in members if o) / len(members),
            )
        )
    return out


def ece(predicted: Sequence[float], outcomes: Sequence[bool], bins: int = 10) -> float:
    """Expected calibration error: the count-weighted mean |predicted - observed|."""
    n = len(predicted)
    if n == 0:
        return 0.0
    return sum(
        b.count / n * abs(b.mean_predicted - b.observed)
        for b in reliability(predicted, outcomes, bins)
    )


def brier(predicted: Sequence[float], outcomes: Sequence[bool]) -> float:
    n = len(predicted)
    if n == 0:
        return 0.0
    return sum((p - (1.0 if o else 0.0)) ** 2 for p, o in zip(predicted, outcomes, strict=True)) / n


def auroc(predicted: Sequence[float], outcomes: Sequence[bool]) -> float | None:
    """The chance a good outcome scores above a bad one (ties count half); None when
    only one kind of outcome is present."""
    pairs = sorted(zip(predicted, outcomes, strict=True))
    good = sum(1 for _, o in pairs if o)
    bad = len(pairs) - good
    if good == 0 or bad == 0:
        return None
    rank_sum = 0.0
    i = 0
    while i < len(pairs):
        j = i
        while j < len(pairs) and pairs[j][0] == pairs[i][0]:
            j += 1
        mid_rank = (i + 1 + j) / 2  # average 1-based rank of the tie group
        rank_sum += mid_rank * sum(1 for _, o in pairs[i:j] if o)
        i = j
    return (rank_sum - good * (good + 1) / 2) / (good * bad)


def caught_at_review_rate(
    predicted: Sequence[float], outcomes: Sequence[bool], rate: float = 0.2
) -> tuple[int, int]:
    """(bad edits among the lowest-confidence ``rate`` share, all bad edits): what a
    reviewer who looks only at the least confident proposals would catch."""
    ranked = sorted(zip(predicted, outcomes, strict=True), key=lambda p: p[0])
    reviewed = ranked[: round(len(ranked) * rate)]
    return sum(1 for _, o in reviewed if not o), sum(1 for o in outcomes if not o)


def reliability_svg(
    predicted: Sequence[float], outcomes: Sequence[bool], *, title: str, bins: int = 10
) -> str:
    """A reliability diagram (observed vs predicted per bin, bar width ∝ count) as SVG."""
    size, pad = 360, 44
    plot = size - 2 * pad
    n = max(1, len(predicted))

    def x(v: float) -> float:
        return pad + v * plot

    def y(v: float) -> float:
        return size - pad - v * plot

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" '
        f'viewBox="0 0 {size} {size}" font-family="sans-serif" font-size="11">',
        f'<rect width="{size}" height="{size}" fill="white"/>',
        f'<text x="{size / 2}" y="18" text-anchor="middle" font-size="13">{escape(title)}</text>',
        f'<line x1="{x(0)}" y1="{y(0)}" x2="{x(1)}" y2="{y(1)}" stroke="#999" '
        'stroke-dasharray="4 3"/>',
        f'<rect x="{x(0)}" y="{y(1)}" width="{plot}" height="{plot}" fill="none" stroke="#333"/>',
    ]
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        parts.append(f'<text x="{x(tick)}" y="{y(0) + 16}" text-anchor="middle">{tick:g}</text>')
        parts.append(f'<text x="{x(0) - 6}" y="{y(tick) + 4}" text-anchor="end">{tick:g}</text>')
    for b in reliability(predicted, outcomes, bins):
        width = (b.high - b.low) * plot
        shade = 0.25 + 0.75 * b.count / n
        parts.append(
            f'<rect x="{x(b.low) + 1:.1f}" y="{y(b.observed):.1f}" width="{width - 2:.1f}" '
            f'height="{(b.observed * plot):.1f}" fill="#3b6ea5" fill-opacity="{shade:.2f}">'
            f"<title>{b.count} proposals, predicted {b.mean_predicted:.2f}, observed "
            f"{b.observed:.2f}</title></rect>"
        )
        parts.append(
            f'<circle cx="{x(b.mean_predicted):.1f}" cy="{y(b.observed):.1f}" r="3" '
            'fill="#d9822b"/>'
        )
    parts.append(
        f'<text x="{size / 2}" y="{size - 8}" text-anchor="middle">predicted confidence</text>'
    )
    parts.append(
        f'<text x="12" y="{size / 2}" transform="rotate(-90 12 {size / 2})" '
        'text-anchor="middle">observed share accepted</text>'
    )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
