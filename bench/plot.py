"""Cold start per runtime as horizontal bars: `python plot.py <side-by-side.json> <out.png>`.

Run with bench/.venvs/plot (matplotlib is a benchmark tool, not a project dependency), by side_by_side.py.
The bars use a logarithmic axis: the empty interpreter and a subprocess-per-request runtime differ by
two orders of magnitude, and on a linear axis the runtimes in between could not be told apart.
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
    labels = [f["label"] for _, f in runtimes]
    ms = [f["cold"] * 1000 for _, f in runtimes]
    colors = ["#d62728" if key == "ours" else "#4c72b0" for key, _ in runtimes]
    fig, ax = plt.subplots(figsize=(10, 0.55 * len(runtimes) + 1.4), dpi=120)
    bars = ax.barh(labels, ms, color=colors)
    ax.set_xscale("log")
    ax.set_xlim(min(ms) / 1.5, max(ms) * 4)
    for bar, value in zip(bars, ms):
        ax.text(value * 1.06, bar.get_y() + bar.get_height() / 2, f"{value:,.0f} ms · {value / 1000 / empty:.1f}× empty",
                va="center", fontsize=9)
    ax.set_xlabel("spawn to first tools/list answer, ms (log scale)")
    ax.set_title(f"Cold start per runtime, median of {data['rounds']} fresh processes (same run)", fontsize=11)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    fig.savefig(out, metadata={"Software": None})


if __name__ == "__main__":
    main(*sys.argv[1:3])
