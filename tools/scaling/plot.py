#!/usr/bin/env python3
"""Plots every docs/scaling/*.csv to a PNG beside it and writes the tables.

    target/plot-venv/bin/python tools/scaling/plot.py [DIR]   (DIR: docs/scaling)

tools/scaling/run calls it (making the venv with matplotlib under target/).

CSV format (one file = one plot):

- optional leading comment lines "# key: value"; read are ``title``
  (default: the file name), ``xlabel`` (default "N"), ``xscale`` and
  ``yscale`` (``log`` or ``linear``; default log and linear); any other
  "# ..." line is kept as a remark (load average, command, date);
- a header line exactly ``series,x,y,unit,note``;
- one row per point: ``series`` the line's label, ``x`` and ``y`` numbers,
  ``unit`` y's unit (``ms``, ``per_s``, ``bytes``, ``MiB``, ...: a file with
  several units gets one subplot per unit), ``note`` free text without
  commas (e.g. the load average). Rows whose y is not a number are skipped.

Besides DIR/<name>.png it writes DIR/tables.md: per file a Markdown table
with each series' value at each x and its ratio to the same series at the
smallest x (the 10k figure in docs/scaling.md).
"""

import csv
import math
import pathlib
import sys


def read(path):
    meta, remarks, rows = {}, [], []
    with path.open() as f:
        lines = f.read().splitlines()
    body = []
    for line in lines:
        if line.startswith("#") and not body:
            key, _, value = line[1:].partition(":")
            if key.strip() in ("title", "xlabel", "xscale", "yscale"):
                meta[key.strip()] = value.strip()
            else:
                remarks.append(line[1:].strip())
        elif line.strip():
            body.append(line)
    if not body or body[0].strip() != "series,x,y,unit,note":
        raise SystemExit(f"{path}: the header must be series,x,y,unit,note")
    for row in csv.DictReader(body):
        try:
            x, y = float(row["x"]), float(row["y"])
        except (TypeError, ValueError):
            continue
        if math.isfinite(x) and math.isfinite(y):
            rows.append((row["series"], x, y, row["unit"], row.get("note") or ""))
    return meta, remarks, rows


def fmt(v):
    if v == int(v) and abs(v) >= 100:
        return f"{int(v):,}"
    return f"{v:.3g}" if abs(v) < 100 else f"{v:,.0f}"


def table(path, meta, rows):
    out = [f"### {meta.get('title', path.stem)} (`{path.name}`)", ""]
    xs = sorted({r[1] for r in rows})
    out.append("| series | unit | " + " | ".join(fmt(x) for x in xs) + " |")
    out.append("|---|---|" + "---|" * len(xs))
    series = []
    for r in rows:
        if (r[0], r[3]) not in series:
            series.append((r[0], r[3]))
    for name, unit in series:
        points = {}
        for s, x, y, u, _ in rows:
            if s == name and u == unit:
                points[x] = y  # the last row for an x wins (a rerun)
        base = points.get(min(points)) if points else None
        cells = []
        for x in xs:
            if x not in points:
                cells.append("")
            elif base and x != min(points):
                cells.append(f"{fmt(points[x])} ({points[x] / base:.2f}x)")
            else:
                cells.append(fmt(points[x]))
        out.append(f"| {name} | {unit} | " + " | ".join(cells) + " |")
    out.append("")
    return "\n".join(out)


def plot(path, meta, rows):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    units = []
    for r in rows:
        if r[3] not in units:
            units.append(r[3])
    fig, axes = plt.subplots(1, len(units), figsize=(5.5 * len(units), 4), squeeze=False)
    for ax, unit in zip(axes[0], units):
        names = []
        for r in rows:
            if r[3] == unit and r[0] not in names:
                names.append(r[0])
        for name in names:
            points = {}
            for s, x, y, u, _ in rows:
                if s == name and u == unit:
                    points[x] = y
            xs = sorted(points)
            ax.plot(xs, [points[x] for x in xs], marker="o", label=name)
        ax.set_xscale(meta.get("xscale", "log"))
        ax.set_yscale(meta.get("yscale", "linear"))
        ax.set_xlabel(meta.get("xlabel", "N"))
        ax.set_ylabel(unit)
        if meta.get("yscale", "linear") == "linear":
            ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
    fig.suptitle(meta.get("title", path.stem))
    fig.tight_layout()
    fig.savefig(path.with_suffix(".png"), dpi=90)
    plt.close(fig)


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "docs/scaling")
    tables = []
    for path in sorted(root.glob("*.csv")):
        meta, _, rows = read(path)
        if not rows:
            continue
        plot(path, meta, rows)
        tables.append(table(path, meta, rows))
        print(f"plotted {path.with_suffix('.png')}")
    (root / "tables.md").write_text(
        "<!-- written by tools/scaling/plot.py from the CSVs; ratios to the smallest x -->\n\n"
        + "\n".join(tables)
    )


if __name__ == "__main__":
    main()
