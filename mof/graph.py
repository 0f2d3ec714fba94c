"""Server-side SVG of an impact analysis (mof.impact.Impact): a layered graph, left to
right by depth. Column 0 is the analysed CI, column d the CIs reached at depth d, the
last column the IT services reached. Edges point from a relationship's source to its
target and carry its type; services hang off the CI through which they are reached.

No JavaScript and no layout library: the layout is a plain grid, which is what a
dependency chain needs, and it stays readable when printed or read without JS.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from django.urls import reverse
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from mof.choices import RelationshipType
from mof.impact import DOWNSTREAM

MAX_NODES = 60
MAX_SERVICES = 20
NODE_W = 180
NODE_H = 38
COL_GAP = 90
ROW_GAP = 14
PAD = 20
LABEL_CHARS = 24

CRITICALITY_COLOURS = {
    "critical": ("#fde2e1", "#b42318"),
    "high": ("#fdeadb", "#c4450c"),
    "medium": ("#fef5d3", "#a16207"),
    "low": ("#e3f4e8", "#217a3c"),
}
STATUS_CLASSES = {"planned": "node-planned", "in_service": "node-in-service", "retired": "node-retired"}
REL_LABELS = dict(RelationshipType.choices)


@dataclass
class _Node:
    key: str
    label: str
    title: str
    kind: str  # origin | ci | service | more
    col: int
    css: str = ""
    href: str = ""
    fill: str = ""
    stroke: str = ""
    x: float = 0
    y: float = 0


def _short(text: str, limit: int = LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_impact(impact, *, max_nodes: int = MAX_NODES) -> SafeString:
    """The SVG markup of `impact` (at most `max_nodes` nodes, then a '+N more' node)."""
    if not impact.origin:
        return mark_safe("")
    origin = impact.origin[0]
    nodes: dict[str, _Node] = {}
    edges: list[tuple[str, str, str, bool]] = []  # (from key, to key, label, dashed)

    nodes[f"ci{origin['id']}"] = _Node(
        key=f"ci{origin['id']}",
        label=_short(origin["name"]),
        title=origin["name"],
        kind="origin",
        col=0,
        css="node-origin",
        href=reverse("ci_detail", args=[origin["id"]]),
    )
    services = list(impact.services)
    service_room = min(len(services), MAX_SERVICES)
    ci_room = max(0, max_nodes - 1 - service_room)
    shown_cis = impact.cis[:ci_room]
    hidden = len(impact.cis) - len(shown_cis)

    downstream = impact.direction == DOWNSTREAM
    for ci in shown_cis:
        key = f"ci{ci.id}"
        nodes[key] = _Node(
            key=key,
            label=_short(ci.name),
            title=f"{ci.name} ({ci.ci_class}, {ci.status.replace('_', ' ')})",
            kind="ci",
            col=ci.depth,
            css=STATUS_CLASSES.get(ci.status, ""),
            href=reverse("ci_detail", args=[ci.id]),
        )
        parent = f"ci{ci.path[-2]['id']}" if len(ci.path) >= 2 else f"ci{origin['id']}"
        label = REL_LABELS.get(ci.relationship, ci.relationship or "")
        # Relationships point from the dependent to what it depends on.
        edges.append((key, parent, label, False) if downstream else (parent, key, label, False))

    max_col = max((n.col for n in nodes.values()), default=0)
    service_col = max_col + 1
    for service in services[:service_room]:
        key = f"svc{service.id}"
        fill, stroke = CRITICALITY_COLOURS.get(service.criticality, ("#eef1f5", "#475467"))
        nodes[key] = _Node(
            key=key,
            label=_short(service.name),
            title=f"{service.name} (service, {service.criticality} criticality)",
            kind="service",
            col=service_col,
            css=f"node-service crit-{service.criticality}",
            href=reverse("service_detail", args=[service.id]),
            fill=fill,
            stroke=stroke,
        )
        via = f"ci{service.via_ci['id']}"
        if via in nodes:
            edges.append((via, key, "supports", True))
    hidden += len(services) - service_room
    if hidden:
        more_col = service_col if service_room else max_col + 1
        nodes["more"] = _Node(
            key="more",
            label=f"+{hidden} more",
            title=f"{hidden} more not drawn: see the table",
            kind="more",
            col=more_col,
            css="node-more",
        )

    # Layout: columns left to right, rows centred vertically.
    columns: dict[int, list[_Node]] = {}
    for node in nodes.values():
        columns.setdefault(node.col, []).append(node)
    tallest = max(len(c) for c in columns.values())
    height = PAD * 2 + tallest * NODE_H + (tallest - 1) * ROW_GAP
    ncols = max(columns) + 1
    width = PAD * 2 + ncols * NODE_W + (ncols - 1) * COL_GAP
    for col, members in columns.items():
        column_h = len(members) * NODE_H + (len(members) - 1) * ROW_GAP
        top = (height - column_h) / 2
        for i, node in enumerate(members):
            node.x = PAD + col * (NODE_W + COL_GAP)
            node.y = top + i * (NODE_H + ROW_GAP)

    title = f"{'Downstream' if downstream else 'Upstream'} impact of {origin['name']}"
    wide = " wide" if width > 960 else ""
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="impact-graph{wide}" width="{width}" height="{height:.0f}" '
        f'viewBox="0 0 {width} {height:.0f}" role="img" aria-labelledby="impact-graph-title">',
        f'<title id="impact-graph-title">{escape(title)}</title>',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#667085"/></marker></defs>',
    ]
    for src_key, dst_key, label, dashed in edges:
        a, b = nodes[src_key], nodes[dst_key]
        if a.col <= b.col:
            x1, x2 = a.x + NODE_W, b.x
        else:
            x1, x2 = a.x, b.x + NODE_W
        y1, y2 = a.y + NODE_H / 2, b.y + NODE_H / 2
        mid = (x1 + x2) / 2
        dash = ' stroke-dasharray="5 4"' if dashed else ""
        out.append(
            f'<path class="edge" d="M {x1:.1f} {y1:.1f} C {mid:.1f} {y1:.1f}, {mid:.1f} {y2:.1f}, {x2:.1f} {y2:.1f}" '
            f'fill="none" stroke="#98a2b3" stroke-width="1.5"{dash} marker-end="url(#arrow)"/>'
        )
        if label:
            out.append(
                f'<text class="edge-label" x="{mid:.1f}" y="{(y1 + y2) / 2 - 4:.1f}" text-anchor="middle">{escape(label)}</text>'
            )
    for node in nodes.values():
        out.append(_node_svg(node))
    out.append("</svg>")
    return mark_safe("\n".join(out))


def _node_svg(node: _Node) -> str:
    text_x = node.x + NODE_W / 2
    text_y = node.y + NODE_H / 2 + 4
    if node.kind == "service":
        shape = (
            f'<rect x="{node.x:.1f}" y="{node.y:.1f}" width="{NODE_W}" height="{NODE_H}" rx="{NODE_H / 2}" '
            f'style="fill:{node.fill};stroke:{node.stroke};stroke-width:2"/>'
        )
    elif node.kind == "more":
        shape = (
            f'<rect x="{node.x:.1f}" y="{node.y:.1f}" width="{NODE_W}" height="{NODE_H}" rx="4" '
            f'fill="#ffffff" stroke="#98a2b3" stroke-dasharray="4 3"/>'
        )
    else:
        shape = f'<rect x="{node.x:.1f}" y="{node.y:.1f}" width="{NODE_W}" height="{NODE_H}" rx="4"/>'
    body = (
        f'<g class="node {node.css}" data-kind="{node.kind}"><title>{escape(node.title)}</title>{shape}'
        f'<text x="{text_x:.1f}" y="{text_y:.1f}" text-anchor="middle">{escape(node.label)}</text></g>'
    )
    if node.href:
        return f'<a href="{escape(node.href)}">{body}</a>'
    return body


# --- the MOF cycle on the home page ---------------------------------------------------

CYCLE_W, CYCLE_H = 960, 640
CX, CY = CYCLE_W / 2, CYCLE_H / 2
R_OUT, R_IN = 230, 112
QUADRANT_FILLS = {
    "changing": ("#e0ecfb", "#1d4f91"),
    "operating": ("#e3f4e8", "#1f6b3a"),
    "supporting": ("#fdeedc", "#9a4a0b"),
    "optimizing": ("#ece6fb", "#553c9a"),
}


def _pt(angle_deg: float, r: float) -> tuple[float, float]:
    a = math.radians(angle_deg)
    return CX + r * math.sin(a), CY - r * math.cos(a)


def render_mof_cycle(quadrants: list[dict], reviews: list[dict]) -> SafeString:
    """The MOF cycle: four quadrants clockwise from twelve o'clock, each ending at its
    review milestone (a diamond on the boundary with the next quadrant).

    quadrants: [{slug, name, url, lines: [str, ...]}] in cycle order (Changing first);
    reviews:   [{name, url, lines}] in the same order, the review ending each quadrant.
    """
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="mof-cycle" viewBox="0 0 {CYCLE_W} {CYCLE_H}" '
        'role="img" aria-labelledby="mof-cycle-title mof-cycle-desc">',
        '<title id="mof-cycle-title">The MOF cycle</title>',
        '<desc id="mof-cycle-desc">Changing, Operating, Supporting and Optimizing, clockwise, each ending in its review.</desc>',
        '<defs><marker id="cycle-arrow" viewBox="0 0 10 10" refX="5" refY="5" markerWidth="6" markerHeight="6" '
        'orient="auto"><path d="M 0 0 L 10 5 L 0 10 z" fill="#475467"/></marker></defs>',
    ]
    gap = 3
    for i, q in enumerate(quadrants):
        a0, a1 = i * 90 + gap, (i + 1) * 90 - gap
        (ox0, oy0), (ox1, oy1) = _pt(a0, R_OUT), _pt(a1, R_OUT)
        (ix1, iy1), (ix0, iy0) = _pt(a1, R_IN), _pt(a0, R_IN)
        fill, stroke = QUADRANT_FILLS.get(q["slug"], ("#eef1f5", "#344054"))
        d = (
            f"M {ox0:.1f} {oy0:.1f} A {R_OUT} {R_OUT} 0 0 1 {ox1:.1f} {oy1:.1f} "
            f"L {ix1:.1f} {iy1:.1f} A {R_IN} {R_IN} 0 0 0 {ix0:.1f} {iy0:.1f} Z"
        )
        mx, my = _pt(i * 90 + 45, (R_OUT + R_IN) / 2)
        lines = "".join(
            f'<tspan x="{mx:.1f}" dy="1.35em" class="cycle-count">{escape(line)}</tspan>' for line in q.get("lines", ())
        )
        out.append(
            f'<a href="{escape(q["url"])}" class="cycle-quadrant" data-quadrant="{escape(q["slug"])}">'
            f'<path d="{d}" fill="{fill}" stroke="{stroke}" stroke-width="2"/>'
            f'<text x="{mx:.1f}" y="{my - 10 - 8 * len(q.get("lines", ())):.1f}" text-anchor="middle" fill="{stroke}">'
            f'<tspan class="cycle-name">{escape(q["name"])}</tspan>{lines}</text></a>'
        )
    # Clockwise arrows on the inner ring.
    for i in range(4):
        (x0, y0), (x1, y1) = _pt(i * 90 + 30, R_IN - 18), _pt(i * 90 + 60, R_IN - 18)
        out.append(
            f'<path d="M {x0:.1f} {y0:.1f} A {R_IN - 18} {R_IN - 18} 0 0 1 {x1:.1f} {y1:.1f}" fill="none" '
            'stroke="#98a2b3" stroke-width="2" marker-end="url(#cycle-arrow)"/>'
        )
    out.append(f'<text x="{CX}" y="{CY - 4}" text-anchor="middle" class="cycle-centre">MOF</text>')
    out.append(f'<text x="{CX}" y="{CY + 18}" text-anchor="middle" class="cycle-centre-sub">process model</text>')
    # Review milestones on the boundaries: after quadrant i, at (i + 1) * 90 degrees.
    for i, review in enumerate(reviews):
        angle = ((i + 1) * 90) % 360
        x, y = _pt(angle, (R_OUT + R_IN) / 2)
        s = 17
        diamond = f"{x:.1f},{y - s:.1f} {x + s:.1f},{y:.1f} {x:.1f},{y + s:.1f} {x - s:.1f},{y:.1f}"
        lx, ly = _pt(angle, R_OUT + 26)
        anchor = {0: "middle", 90: "start", 180: "middle", 270: "end"}[angle]
        if angle == 0:
            ly -= 20 + 16 * len(review.get("lines", ()))
        elif angle == 180:
            ly += 10
        else:
            ly -= 10
        lines = "".join(
            f'<tspan x="{lx:.1f}" dy="1.3em" class="cycle-count">{escape(line)}</tspan>'
            for line in review.get("lines", ())
        )
        out.append(
            f'<a href="{escape(review["url"])}" class="cycle-review">'
            f'<polygon points="{diamond}" fill="#ffffff" stroke="#101828" stroke-width="2"/>'
            f'<text x="{lx:.1f}" y="{ly:.1f}" text-anchor="{anchor}"><tspan class="cycle-review-name">{escape(review["name"])}</tspan>{lines}</text></a>'
        )
    out.append("</svg>")
    return mark_safe("\n".join(out))
