"""A picture of each stack's CloudWatch dashboard, drawn from the dashboard body in its synthesized template.

    make diagrams                   # also docs/images/<Stack>-dashboard.png
    python -m tools.dashboards DIR OUT

What is faithful: the grid (CloudWatch's 24 columns, each widget's place and size), the titles, every metric
and expression with its label, statistic and axis, the alarm thresholds drawn on graphs, and the alarms each
alarm widget lists (by their descriptions). What is not: the lines themselves, which are made up (seeded,
so the picture does not change between runs) since no account has sent data; the picture says so.

`widgets(template)` reads the body (standard library only, tested in CI); `render` draws with matplotlib,
installed only by `make diagrams`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.templates import Template, load, text

_ALARM_REFERENCE = re.compile(r"^\$\{([A-Za-z0-9]+)\.Arn\}$")


@dataclass
class Series:
    label: str
    right: bool = False


@dataclass
class Widget:
    kind: str
    x: int
    y: int
    width: int
    height: int
    title: str
    series: list[Series] = field(default_factory=list)
    thresholds: list[tuple[float, str, bool]] = field(default_factory=list)
    band: bool = False
    alarms: list[str] = field(default_factory=list)
    body: str = ""


def _series(entry: list[Any]) -> Series:
    """One entry of a widget's `metrics`: [namespace, name, dimension, value, ..., {options}] or [{expression}]."""
    options = entry[-1] if entry and isinstance(entry[-1], dict) else {}
    right = options.get("yAxis") == "right"
    if "expression" in options and len(entry) == 1:
        expression = str(options["expression"])
        search = re.search(r'MetricName="(\w+)".*?\x27,\s*\x27(\w+)\x27', expression)
        if "label" in options:
            return Series(str(options["label"]), right)
        if search:
            return Series(f"{search[1]} per tool ({search[2]}, SEARCH)", right)
        return Series(expression, right)
    name = str(entry[1])
    stat = options.get("stat", "Average")
    return Series(str(options.get("label") or f"{name} ({stat})"), right)


def _alarm_series(template: Template, logical_id: str) -> tuple[Series, float | None, bool, str]:
    """What an alarm watches: its metric, its threshold (None for an anomaly band), and its description."""
    alarm = template.resources[logical_id]
    p = alarm.properties
    queries = p.get("Metrics") or []
    band = any("ANOMALY_DETECTION_BAND" in str(q.get("Expression", "")) for q in queries)
    stats = [q["MetricStat"] for q in queries if "MetricStat" in q]
    if stats:
        name, stat = stats[0]["Metric"]["MetricName"], stats[0].get("Stat", "Average")
    else:
        name, stat = p.get("MetricName", "?"), p.get("ExtendedStatistic") or p.get("Statistic", "Average")
    threshold = None if band else float(p.get("Threshold", 0))
    return Series(f"{name} ({stat})"), threshold, band, str(p.get("AlarmDescription") or logical_id)


def widgets(template: Template) -> list[Widget]:
    """The widgets of the template's (first) dashboard, in its order; [] without one."""
    dashboards = template.of_type("AWS::CloudWatch::Dashboard")
    if not dashboards:
        return []
    body = json.loads(text(dashboards[0].properties["DashboardBody"]))
    out = []
    for raw in body.get("widgets", []):
        p = raw.get("properties", {})
        widget = Widget(raw["type"], raw.get("x", 0), raw.get("y", 0), raw.get("width", 6), raw.get("height", 6),
                        str(p.get("title", "")))
        if raw["type"] == "metric":
            widget.series = [_series(entry) for entry in p.get("metrics", [])]
            for annotation in (p.get("annotations") or {}).get("horizontal", []):
                widget.thresholds.append((float(annotation["value"]), str(annotation.get("label", "")),
                                          annotation.get("yAxis") == "right"))
            for reference in (p.get("annotations") or {}).get("alarms", []):
                match = _ALARM_REFERENCE.match(str(reference))
                if match and match[1] in template.resources:
                    series, threshold, band, description = _alarm_series(template, match[1])
                    widget.series.append(series)
                    widget.band = widget.band or band
                    if threshold is not None:
                        widget.thresholds.append((threshold, "alarm", False))
        elif raw["type"] == "alarm":
            for reference in p.get("alarms", []):
                match = _ALARM_REFERENCE.match(str(reference))
                if match and match[1] in template.resources:
                    widget.alarms.append(_alarm_series(template, match[1])[3])
        elif raw["type"] == "text":
            widget.body = str(p.get("markdown", ""))
        elif raw["type"] == "log":
            widget.body = str(p.get("query", ""))
        out.append(widget)
    return out


# -- drawing (matplotlib: make diagrams only) -----------------------------------------------------------------

_PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]


def _made_up(label: str, points: int):
    """A plausible, seeded line for a series, by the words in its label; it stays under every alarm threshold."""
    import numpy as np

    rng = np.random.default_rng(int(hashlib.sha256(label.encode()).hexdigest()[:8], 16))
    t = np.linspace(0, 3 * np.pi, points)
    lowered = label.lower()
    if "rate" in lowered:
        return np.clip(rng.normal(0.08, 0.06, points), 0, None)
    if any(word in lowered for word in ("fail", "cancelled", "queue", "throttle", "spillover")):
        return np.zeros(points)  # a healthy picture has none (alarms count failures from one)
    if "error" in lowered:
        return (rng.random(points) > 0.97) * rng.integers(1, 3, points)
    if "p99" in lowered or "latency" in lowered:
        return 120 + 40 * np.sin(t) + rng.normal(0, 15, points)
    if "p50" in lowered:
        return 25 + 5 * np.sin(t) + rng.normal(0, 2, points)
    if "storage" in lowered:
        return (19.6 - np.linspace(0, 0.02, points)) * 1e9
    if "cpu" in lowered:
        return 6 + 2 * np.sin(t) + rng.normal(0, 0.5, points)
    if "concurren" in lowered or "connections" in lowered or "age" in lowered or "iops" in lowered:
        return np.clip(3 + 2 * np.sin(t) + rng.normal(0, 0.6, points), 0, None).round()
    return np.clip(40 + 25 * np.sin(t) + rng.normal(0, 6, points), 0, None).round()


#: Inches per CloudWatch grid column and row, and the room a widget keeps around its graph.
_COLUMN, _ROW = 0.8, 0.55
_TOP, _TITLE, _LEFT, _RIGHT, _BOTTOM = 1.1, 0.38, 0.62, 0.55, 0.9


def render(stack: str, items: list[Widget], path: Path) -> Path:
    """Draw the dashboard's grid to `path` (PNG)."""
    import textwrap

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rows = max(w.y + w.height for w in items)
    width, height = 24 * _COLUMN, _TOP + rows * _ROW
    figure = plt.figure(figsize=(width, height), dpi=80)
    figure.text(0.01, 1 - 0.3 / height, f"{stack}: its CloudWatch dashboard", fontsize=17, fontweight="bold", va="top")
    figure.text(0.01, 1 - 0.72 / height, "Widgets, places, metrics, thresholds and alarms as the template's "
                "DashboardBody defines them; the lines are made up (no account has sent data), not measured.",
                fontsize=11, va="top", color="#555555")
    minutes = np.arange(-180, 0)

    def inches(left: float, top: float, w: float, h: float) -> list[float]:
        return [left / width, 1 - (top + h) / height, w / width, h / height]

    for widget in items:
        left, top = widget.x * _COLUMN, _TOP + widget.y * _ROW
        w, h = widget.width * _COLUMN, widget.height * _ROW
        if widget.kind != "metric":
            axes = figure.add_axes(inches(left + 0.15, top, w - 0.3, h - 0.1))
            axes.set_axis_off()
            axes.set_title(widget.title, fontsize=12, loc="left", fontweight="bold")
            columns = max(20, int((w - 0.4) * 72 / (9.5 * 0.62)))
            lines = [f"● OK  {d}" for d in widget.alarms] if widget.kind == "alarm" else widget.body.splitlines()
            wrapped = "\n".join(textwrap.fill(line, columns, subsequent_indent="      ") for line in lines)
            axes.text(0, 1, wrapped or "(empty)", fontsize=9.5, va="top", ha="left", color="#2b2b2b",
                      transform=axes.transAxes)
            continue
        axes = figure.add_axes(inches(left + _LEFT, top + _TITLE, w - _LEFT - _RIGHT, h - _TITLE - _BOTTOM))
        axes.set_title(widget.title, fontsize=12, loc="left", fontweight="bold")
        right_axes = axes.twinx() if any(series.right for series in widget.series) else None
        for i, series in enumerate(widget.series):
            target = right_axes if series.right and right_axes is not None else axes
            values = _made_up(series.label, len(minutes))
            target.plot(minutes, values, color=_PALETTE[i % len(_PALETTE)], linewidth=1.2, label=series.label)
            if widget.band and i == len(widget.series) - 1:
                target.fill_between(minutes, values * 0.6, values * 1.6 + 1, color="#999999", alpha=0.25,
                                    label="anomaly band (alarm)")
        for value, label, on_right in widget.thresholds:
            target = right_axes if on_right and right_axes is not None else axes
            target.axhline(value, color="#d62728", linestyle="--", linewidth=1)
            target.annotate(label, xy=(minutes[2], value), fontsize=9, color="#d62728", va="bottom")
        handles, labels = axes.get_legend_handles_labels()
        if right_axes is not None:
            more_handles, more_labels = right_axes.get_legend_handles_labels()
            handles, labels = handles + more_handles, labels + [f"{label} (right)" for label in more_labels]
            right_axes.tick_params(labelsize=8)
            right_axes.set_ylim(0, right_axes.get_ylim()[1] * 1.1)
        axes.set_ylim(0, axes.get_ylim()[1] * 1.1)
        axes.legend(handles, labels, fontsize=8, loc="upper left", bbox_to_anchor=(0, -0.13),
                    ncol=min(3, max(1, len(labels))), frameon=False, handlelength=1.5, columnspacing=1)
        axes.set_xticks([-180, -120, -60, 0], ["-3 h", "-2 h", "-1 h", "now"], fontsize=8)
        axes.tick_params(labelsize=8)
        axes.grid(alpha=0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.dashboards", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("templates", type=Path, help="a `cdk synth` output directory")
    parser.add_argument("out", type=Path, help="where the PNGs go (docs/images)")
    args = parser.parse_args(argv)
    for template in load(args.templates):
        items = widgets(template)
        if items:
            print(render(template.name, items, args.out / f"{template.name}-dashboard.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
