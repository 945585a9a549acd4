"""A campaign as a directed graph: its steps and movements (setup, fan-in, fan-out, exchange, return, archive).

Edges: a step feeds the movements that carry its outputs (``after_steps``), a movement gates the step it must
finish before (``before_step``), a movement waits for others (``after_movements``: the archive after the
returns), and a step depends on another (``depends_on``, dashed, drawn only when no movement links them).
networkx lays it out: ``topological_generations`` give the layers (left to right, in dependency order),
one barycentre pass orders each layer to cut crossings, and ``multipartite_layout`` places the nodes.
Six queries whatever the number of movements; the geometry is drawn by ``campaigns/_graph.html``.
"""

from __future__ import annotations

import dataclasses

import networkx as nx
from django.urls import reverse

from transfers.choices import MovementStatus
from transfers.models import Movement

from .choices import Status
from .models import Campaign, Step

NODE_W, NODE_H = 150, 30
LAYER_GAP, ROW_GAP = 60, 14
MARGIN = 10
LIGHT = {"secondary", "info"}  # fills on which white text is hard to read


@dataclasses.dataclass
class Node:
    id: str
    kind: str  # "step" or "movement"
    label: str
    detail: str
    status: str
    colour: str
    url: str
    x: float = 0.0
    y: float = 0.0

    @property
    def light(self) -> bool:
        return self.colour in LIGHT


@dataclasses.dataclass
class Edge:
    source: str
    target: str
    kind: str  # "data" or "depends"
    path: str = ""


@dataclasses.dataclass
class Graph:
    nodes: list[Node]
    edges: list[Edge]
    width: int
    height: int
    node_w: int = NODE_W
    node_h: int = NODE_H

    @property
    def empty(self) -> bool:
        return not self.nodes


def _short(kind: str) -> str:
    return {"fan_in": "fan-in", "fan_out": "fan-out"}.get(kind, kind)


def campaign_graph(campaign: Campaign) -> Graph:
    """Return the laid-out graph of ``campaign`` (see the module docstring)."""
    steps = list(Step.objects.filter(campaign=campaign).order_by("order").prefetch_related("depends_on"))
    movements = list(Movement.objects.filter(campaign=campaign).select_related("destination")
                     .prefetch_related("sources", "after_steps", "after_movements").order_by("id"))
    graph = nx.DiGraph()
    nodes: dict[str, Node] = {}
    for step in steps:
        node_id = f"s{step.pk}"
        nodes[node_id] = Node(node_id, "step", step.name, f"step {step.name}: {step.status}", step.status,
                              Status.colour(step.status), reverse("campaigns:step", args=[step.pk]))
        graph.add_node(node_id)
    edges: list[Edge] = []
    linked: set[tuple[str, str]] = set()
    for movement in movements:
        node_id = f"m{movement.pk}"
        sources = ",".join(sorted(site.code for site in movement.sources.all()))
        nodes[node_id] = Node(node_id, "movement", f"{_short(movement.kind)} → {movement.destination.code}",
                              f"{movement.key}: {sources} → {movement.destination.code}, {movement.status}",
                              movement.status, MovementStatus.colour(movement.status),
                              reverse("transfers:movement", args=[movement.pk]))
        graph.add_node(node_id)
        for step in movement.after_steps.all():
            edges.append(Edge(f"s{step.pk}", node_id, "data"))
        for earlier in movement.after_movements.all():
            edges.append(Edge(f"m{earlier.pk}", node_id, "data"))
        if movement.before_step_id:
            edges.append(Edge(node_id, f"s{movement.before_step_id}", "data"))
            for step in movement.after_steps.all():
                linked.add((f"s{step.pk}", f"s{movement.before_step_id}"))
    for step in steps:
        for dependency in step.depends_on.all():
            pair = (f"s{dependency.pk}", f"s{step.pk}")
            if pair not in linked:
                edges.append(Edge(*pair, "depends"))
    edges = [edge for edge in edges if edge.source in nodes and edge.target in nodes]
    graph.add_edges_from((edge.source, edge.target) for edge in edges)
    if not nodes:
        return Graph([], [], 0, 0)
    layers = _layers(graph)
    for index, layer in enumerate(layers):
        for node_id in layer:
            graph.nodes[node_id]["layer"] = index
    tallest = max(len(layer) for layer in layers)
    width = MARGIN * 2 + len(layers) * NODE_W + (len(layers) - 1) * LAYER_GAP
    height = MARGIN * 2 + tallest * NODE_H + (tallest - 1) * ROW_GAP
    ordered = nx.DiGraph()  # multipartite_layout places each layer's nodes in insertion order
    ordered.add_nodes_from((node_id, {"layer": index}) for index, layer in enumerate(layers) for node_id in layer)
    positions = nx.multipartite_layout(ordered, subset_key="layer", align="vertical", scale=1.0, center=(0, 0))
    xs = [p[0] for p in positions.values()]
    ys = [p[1] for p in positions.values()]
    x_span, y_span = (max(xs) - min(xs)) or 1.0, (max(ys) - min(ys)) or 1.0
    for node_id, (px, py) in positions.items():
        node = nodes[node_id]
        node.x = MARGIN + (px - min(xs)) / x_span * (width - 2 * MARGIN - NODE_W) if len(layers) > 1 else MARGIN
        node.y = MARGIN + (py - min(ys)) / y_span * (height - 2 * MARGIN - NODE_H) if tallest > 1 else MARGIN
    for edge in edges:
        a, b = nodes[edge.source], nodes[edge.target]
        x1, y1, x2, y2 = a.x + NODE_W, a.y + NODE_H / 2, b.x, b.y + NODE_H / 2
        bend = max((x2 - x1) / 2, 20)
        edge.path = f"M{x1:.1f},{y1:.1f} C{x1 + bend:.1f},{y1:.1f} {x2 - bend:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"
    ordered_nodes = [nodes[node_id] for layer in layers for node_id in layer]
    return Graph(ordered_nodes, edges, int(width), int(height))


def _layers(graph: nx.DiGraph) -> list[list[str]]:
    """Layers in dependency order, each ordered by the mean position of its predecessors (one sweep)."""
    if nx.is_directed_acyclic_graph(graph):
        layers = [sorted(layer) for layer in nx.topological_generations(graph)]
    else:  # never in a planned campaign; keep drawing rather than fail
        layers = [sorted(graph.nodes)]
    position: dict[str, float] = {}
    for layer in layers:
        def barycentre(node_id: str) -> float:
            before = [position[p] for p in graph.predecessors(node_id) if p in position]
            return sum(before) / len(before) if before else float("inf")

        layer.sort(key=lambda node_id: (barycentre(node_id), node_id))
        for index, node_id in enumerate(layer):
            position[node_id] = index
    return layers
