#!/usr/bin/env python3
"""Regenerates the peers and lived-record tables in docs/PERFORMANCE.md and the plot
docs/peers.svg from criterion's output of one run.

    cargo bench --features hazmat --bench peers -- --warm-up-time 2 --measurement-time 6
    cargo bench --bench lived -- --warm-up-time 2 --measurement-time 6 lived
    python3 scripts/perf-table.py            # rewrites the tables and the plot
    python3 scripts/perf-table.py --check    # exits 1 if a target is missed

It reads the median (`median.point_estimate`, in nanoseconds) of each benchmark in
target/criterion/<group>/<operation>/<side>/new/estimates.json. The peers bench
measures the benchmark thread's CPU time, so its ratios are taken on the same clock.
Standard library only.
"""

import argparse
import json
import math
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
CRITERION = ROOT / "target" / "criterion"
DOC = ROOT / "docs" / "PERFORMANCE.md"
SVG = ROOT / "docs" / "peers.svg"
# Written by scripts/peers-instructions (callgrind): exact instruction counts of the
# operations that have a DH, a KEM or a signature.
INSTRUCTIONS = CRITERION / "peers-instructions.json"

# (operation, label, target of missive/floor, target of missive/vodozemac)
PEERS = [
    ("same_chain_encrypt", "same-chain encrypt", None, None),
    ("same_chain_decrypt", "same-chain decrypt", None, None),
    ("ping_pong_round", "ping-pong round (2 DH steps)", 1.1, None),
    ("session_creation", "session creation, both sides", 1.1, None),
    ("group_encrypt", "group encrypt", 1.1, 1.25),
    ("group_decrypt", "group decrypt", 1.1, 1.0),
    ("group_decrypt_skip_100", "group decrypt after 100 skipped", 1.1, None),
    ("group_decrypt_skip_1000", "group decrypt after 1,000 skipped", 1.1, None),
]
# The same-chain pair is held to its floor together.
SAME_CHAIN_TARGET = 1.3

LIVED = [
    ("encrypt", "40_archived"),
    ("encrypt", "5x2000_skipped"),
    ("decrypt", "40_archived"),
    ("decrypt", "5x2000_skipped"),
]
LIVED_TARGET = 1.2


def median(*parts):
    path = CRITERION.joinpath(*parts, "new", "estimates.json")
    if not path.exists():
        return None
    return json.loads(path.read_text())["median"]["point_estimate"]


def fmt_time(ns):
    if ns is None:
        return "–"
    if ns < 1e3:
        return f"{ns:.0f} ns"
    if ns < 1e6:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns / 1e6:.3f} ms"


def fmt_ratio(r, target=None):
    if r is None:
        return "–"
    text = f"{r:.2f}"
    if target is not None:
        text += " ✓" if r <= target else f" ✗ (target ≤ {target})"
    return text


def ratio(a, b):
    return None if a is None or b is None else a / b


def peers_rows():
    rows = []
    for op, label, floor_target, voz_target in PEERS:
        m, v, f = (median("peers", op, side) for side in ("missive", "vodozemac", "floor"))
        rows.append((op, label, m, v, f, floor_target, voz_target))
    return rows


def instruction_ratios(op):
    """(missive / floor, missive / vodozemac) in instructions, if counted."""
    if not INSTRUCTIONS.exists():
        return None, None
    c = json.loads(INSTRUCTIONS.read_text()).get(op, {})
    m = c.get("missive")
    return ratio(m, c.get("floor")), ratio(m, c.get("vodozemac"))


def peers_table(rows, misses):
    out = [
        "| operation | missive | vodozemac | floor | missive / floor | missive / vodozemac "
        "| instructions: missive / floor | instructions: missive / vodozemac |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for op, label, m, v, f, ft, vt in rows:
        rf, rv = ratio(m, f), ratio(m, v)
        for r, t, what in ((rf, ft, "floor"), (rv, vt, "vodozemac")):
            if r is not None and t is not None and r > t:
                misses.append(f"{op}: missive/{what} {r:.2f} > {t}")
        irf, irv = instruction_ratios(op)
        out.append(
            f"| {label} | {fmt_time(m)} | {fmt_time(v)} | {fmt_time(f)} "
            f"| {fmt_ratio(rf, ft)} | {fmt_ratio(rv, vt)} "
            f"| {'–' if irf is None else f'{irf:.3f}'} | {'–' if irv is None else f'{irv:.2f}'} |"
        )
    by = {r[0]: r for r in rows}
    enc, dec = by.get("same_chain_encrypt"), by.get("same_chain_decrypt")
    if enc and dec and None not in (enc[2], dec[2], enc[4], dec[4]):
        m, f = enc[2] + dec[2], enc[4] + dec[4]
        v = None if None in (enc[3], dec[3]) else enc[3] + dec[3]
        r = m / f
        if r > SAME_CHAIN_TARGET:
            misses.append(f"same-chain encrypt + decrypt: missive/floor {r:.2f} > {SAME_CHAIN_TARGET}")
        out.append(
            f"| same-chain encrypt + decrypt (sum of the two rows) | {fmt_time(m)} "
            f"| {fmt_time(v)} | {fmt_time(f)} | {fmt_ratio(r, SAME_CHAIN_TARGET)} "
            f"| {fmt_ratio(ratio(m, v))} | – | – |"
        )
    return out


def lived_table(misses):
    out = [
        "| operation | record | median | fresh record | ratio |",
        "|---|---|---|---|---|",
    ]
    any_data = False
    for op, shape in LIVED:
        t, fresh = median("lived", op, shape), median("lived", op, "fresh")
        r = ratio(t, fresh)
        any_data |= r is not None
        if r is not None and r > LIVED_TARGET:
            misses.append(f"lived {op} {shape}: {r:.2f} > {LIVED_TARGET}")
        record = shape.replace("_", " ").replace("5x2000", "5 × 2,000")
        out.append(
            f"| {op} | {record} | {fmt_time(t)} | {fmt_time(fresh)} "
            f"| {fmt_ratio(r, LIVED_TARGET)} |"
        )
    return out if any_data else None


def replace_between(text, name, lines):
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    i, j = text.find(start), text.find(end)
    if i < 0 or j < i:
        sys.exit(f"{DOC}: markers {start} … {end} not found")
    return text[: i + len(start)] + "\n" + "\n".join(lines) + "\n" + text[j:]


def svg(rows):
    """A horizontal bar chart on a log scale: missive/floor and missive/vodozemac per
    operation, with the line at 1 and each target marked."""
    by = {r[0]: r for r in rows}
    enc, dec = by.get("same_chain_encrypt"), by.get("same_chain_decrypt")
    if enc and dec and None not in (enc[2], enc[4], dec[2], dec[4]):
        v = None if None in (enc[3], dec[3]) else enc[3] + dec[3]
        combined = ("same_chain", "same-chain encrypt + decrypt", enc[2] + dec[2], v,
                    enc[4] + dec[4], SAME_CHAIN_TARGET, None)
        rows = rows[:2] + [combined] + rows[2:]
    lo, hi = 0.05, 20.0
    left, width, bar, gap = 300, 560, 12, 14
    top = 74
    height = top + len(rows) * (2 * bar + gap) + 60

    def x(r):
        r = min(max(r, lo), hi)
        return left + width * (math.log10(r) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))

    colours = {"floor": "#3b6ea5", "vodozemac": "#d08c2c"}
    s = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 40}" height="{height}" '
        'font-family="sans-serif" font-size="12">',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="{left}" y="20" font-size="14" font-weight="bold">missive as a multiple of its floor '
        "and of vodozemac</text>",
        f'<text x="{left}" y="36">median CPU time of one run; log scale</text>',
        f'<rect x="{left}" y="46" width="12" height="12" fill="{colours["floor"]}"/>'
        f'<text x="{left + 16}" y="57">missive / floor</text>',
        f'<rect x="{left + 150}" y="46" width="12" height="12" fill="{colours["vodozemac"]}"/>'
        f'<text x="{left + 166}" y="57">missive / vodozemac (Olm, Megolm)</text>',
        f'<text x="{left + 400}" y="57">| target</text>',
    ]
    axis_y = height - 40
    for tick in (0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20):
        tx = x(tick)
        s.append(
            f'<line x1="{tx:.1f}" y1="{top - 6}" x2="{tx:.1f}" y2="{axis_y}" '
            f'stroke="{"#000" if tick == 1 else "#ddd"}" stroke-width="{1.5 if tick == 1 else 1}"/>'
        )
        s.append(f'<text x="{tx:.1f}" y="{axis_y + 16}" text-anchor="middle">{tick:g}×</text>')
    y = top
    for op, label, m, v, f, ft, vt in rows:
        s.append(f'<text x="{left - 8}" y="{y + bar + 4}" text-anchor="end">{label}</text>')
        for r, t, side in ((ratio(m, f), ft, "floor"), (ratio(m, v), vt, "vodozemac")):
            if r is not None:
                x0, x1 = sorted((x(1), x(r)))
                s.append(
                    f'<rect x="{x0:.1f}" y="{y}" width="{max(x1 - x0, 1):.1f}" height="{bar}" '
                    f'fill="{colours[side]}"/>'
                )
                if r >= 1:
                    s.append(f'<text x="{x(r) + 4:.1f}" y="{y + bar - 2}" font-size="10">{r:.2f}</text>')
                else:
                    s.append(
                        f'<text x="{x(r) - 4:.1f}" y="{y + bar - 2}" font-size="10" '
                        f'text-anchor="end">{r:.2f}</text>'
                    )
            if t is not None:
                s.append(
                    f'<line x1="{x(t):.1f}" y1="{y - 2}" x2="{x(t):.1f}" y2="{y + bar + 2}" '
                    'stroke="#c00" stroke-width="2"/>'
                )
            y += bar
        y += gap
    s.append(
        f'<text x="{left}" y="{height - 6}" font-size="10">Generated by scripts/perf-table.py '
        "from target/criterion (benches/peers.rs).</text>"
    )
    s.append("</svg>")
    return "\n".join(s) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = ap.parse_args()
    rows = peers_rows()
    if all(r[2] is None for r in rows):
        sys.exit("no peers results under target/criterion: run the peers bench first")
    misses = []
    text = DOC.read_text()
    text = replace_between(text, "peers-table", peers_table(rows, misses))
    lived = lived_table(misses)
    if lived is not None:
        text = replace_between(text, "lived-table", lived)
    DOC.write_text(text)
    SVG.write_text(svg(rows))
    print(f"wrote {DOC.relative_to(ROOT)} and {SVG.relative_to(ROOT)}")
    for m in misses:
        print("target missed:", m)
    if args.check and misses:
        sys.exit(1)


if __name__ == "__main__":
    main()
