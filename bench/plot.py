"""Cold start per runtime as horizontal bars: `python plot.py <side-by-side.json> <out.png>`.

Run with bench/.venvs/plot (matplotlib is a benchmark tool, not a project dependency), by side_by_side.py.
The axis is linear so that the bars compare as the times do; each is labelled with its time and its
ratio to the empty interpreter measured in the same run.
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(results: str, out: str) -> None:
    data = json.loads(open(results).read())
    runtimes = list(data["figures"].items())[::-1]  # first runtime on top
    empty = data["figures"]["empty"]["cold"]
    labels = [f["label"].replace(" (", "\n(") for _, f in runtimes]
    ms = [f["cold"] * 1000 for _, f in runtimes]
    colors = ["#d62728" if key == "ours" else "#4c72b0" for key, _ in runtimes]
    fig, ax = plt.subplots(figsize=(10, 0.7 * len(runtimes) + 1.4), dpi=120)
    bars = ax.barh(labels, ms, color=colors)
    ax.set_xlim(0, max(ms) * 1.3)
    for bar, value in zip(bars, ms):
        ax.text(value + max(ms) * 0.01, bar.get_y() + bar.get_height() / 2,
                f"{value:,.0f} ms · {value / 1000 / empty:.1f}× empty", va="center", fontsize=9)
    ax.set_xlabel("spawn to first tools/list answer, ms")
    ax.set_title(f"Cold start per runtime, median of {data['rounds']} fresh processes (same run)", fontsize=11)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    fig.savefig(out, metadata={"Software": None})


if __name__ == "__main__":
    main(*sys.argv[1:3])
