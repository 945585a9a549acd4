"""The movement rules of the planner: what each site must receive, from whom and before which step.

A mixin of :class:`~.planner._Planner` (it uses the planner's ownership maps and indexes); see the rules
in :mod:`.planner`'s docstring.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from .collection_names import step_collection
from .dataflow import DatasetTypeInfo
from .plan import MOVEMENT_KINDS, Piece, PlannedGroup, PlannedMovement


class MovementRules:
    """Movements of one planning run: needs per (kind, source, destination, step), returns and archive."""

    # -- movements -------------------------------------------------------------

    def movements(self) -> list[PlannedMovement]:
        """Return every movement: what each site reads that it does not make, then returns and archive.

        Needs are collected per (kind, source, destination, before-step,
        origin) and per dataset type as pieces; each such entry becomes one
        movement, or several when its dataset types would need different
        data-ID restrictions (see :meth:`_partition`).
        """
        entries: dict[tuple, dict[str, Any]] = {}
        delivered: dict[tuple[str, str], set[Piece] | None] = defaultdict(set)
        for movement in self.already:
            for dataset_type in movement.dataset_types:
                slot = (movement.destination, dataset_type)
                pieces = self._carried(dataset_type, movement)
                delivered[slot] = None if pieces is None or delivered[slot] is None else delivered[slot] | pieces
        defaults = self.spec.default_dataset_types()

        def add(merge_key: tuple, dataset_type: str, info: DatasetTypeInfo, pieces: set[Piece] | None,
                producer: str | None, collections: list[str], **fields: Any) -> None:
            entry = entries.setdefault(merge_key, {"types": {}, **fields})
            _, current, _, current_collections = entry["types"].get(dataset_type, (info, set(), producer, []))
            merged = None if pieces is None or current is None else current | pieces
            entry["types"][dataset_type] = (info, merged, producer,
                                            sorted(set(current_collections) | set(collections)))

        for step in self.steps:
            flow = self.dataflow.steps[step.name]
            by_site: dict[str, list[PlannedGroup]] = defaultdict(list)
            for group in self.planned_groups[step.name]:
                by_site[group.site].append(group)
            for site, site_groups in by_site.items():
                # the pieces a site's groups read depend on the dataset type only through its restriction keys
                read_by_keys: dict[tuple[str, ...], set[Piece] | None] = {}
                for dataset_type, info in flow.inputs.items():
                    already = delivered[(site, dataset_type)]
                    if already is None:
                        continue  # it arrived whole before
                    keys = info.restriction_keys()
                    if keys not in read_by_keys:
                        union: set[Piece] | None = set()
                        for group in site_groups:
                            read = self.pieces(info, group, step.name)
                            if read is None:
                                union = None
                                break
                            union |= read
                        read_by_keys[keys] = union
                    needed = read_by_keys[keys]
                    producer = self.producer_of(dataset_type, step.name)
                    if producer is None:
                        if site == self.hub:
                            continue  # inputs and defaults live at the hub
                        origin = "defaults" if dataset_type in defaults else "inputs"
                        missing = None if needed is None else needed - already
                        if missing is not None and not missing:
                            continue
                        delivered[(site, dataset_type)] = (None if missing is None
                                                           else already | missing if already else missing)
                        collections = (
                            [c for entry in self.spec.defaults if dataset_type in entry.dataset_types
                             for c in entry.collections]
                            if origin == "defaults" else list(self.spec.input_collections)
                        )
                        add(("setup", self.hub, site, step.name, origin), dataset_type, info, missing, None,
                            collections, kind="setup", source=self.hub, destination=site, before_step=step.name,
                            origin=origin)
                        continue
                    if self.level[step.name] == "global":
                        kind = "fan_in"
                    elif self.level[producer] == "global":
                        kind = "fan_out"
                    else:
                        kind = "exchange"
                    collections = [step_collection(self.spec.output_prefix, producer)]
                    made = self.produced(producer, dataset_type)
                    if needed is None or made is None:
                        for source in self.producer_sites(producer):
                            if source != site:
                                add((kind, source, site, step.name, "products"), dataset_type, info, None, producer,
                                    collections, kind=kind, source=source, destination=site, before_step=step.name,
                                    origin="products")
                        delivered[(site, dataset_type)] = None
                        continue
                    by_source: dict[str, set[Piece]] = defaultdict(set)
                    for piece in (needed - already if already else needed):
                        source = made.get(piece)
                        if source is not None and source != site:  # a piece no group makes is not read
                            by_source[source].add(piece)
                    for source, pieces in by_source.items():
                        add((kind, source, site, step.name, "products"), dataset_type, info, pieces, producer,
                            collections, kind=kind, source=source, destination=site, before_step=step.name,
                            origin="products")
                    # sets are shared, never changed in place: a first delivery keeps the pieces read
                    delivered[(site, dataset_type)] = already | needed if already else needed

        self._add_returns(add, delivered)
        movements = [movement for entry in entries.values() for movement in self._partition(entry)]
        movements.sort(key=self._sort_key)
        self._add_archive(movements)
        return movements

    def _add_returns(self, add: Any, delivered: dict[tuple[str, str], set[Piece] | None]) -> None:
        """Return each wanted output to the hub from the site whose group produced each piece of it."""
        wanted = list(dict.fromkeys([*self.spec.outputs.return_, *self.spec.outputs.archive]))
        for dataset_type in wanted:
            producer = self.producer_of(dataset_type, None)
            if producer is None or self.level[producer] == "global":
                continue
            info = self.dataflow.steps[producer].outputs[dataset_type]
            collections = [step_collection(self.spec.output_prefix, producer)]
            made = self.produced(producer, dataset_type)
            already = delivered[(self.hub, dataset_type)]
            if already is None:
                continue  # the hub received it whole for one of its own steps
            by_source: dict[str, set[Piece] | None] = {}
            if made is None:
                by_source = {site: None for site in self.producer_sites(producer)}
            else:
                for piece, site in made.items():
                    if piece not in already:
                        by_source.setdefault(site, set()).add(piece)  # type: ignore[union-attr]
            for site, pieces in by_source.items():
                if site != self.hub:
                    add(("return", site, self.hub, None, "products"), dataset_type, info, pieces, producer,
                        collections, kind="return", source=site, destination=self.hub, before_step=None,
                        origin="products")

    def _add_archive(self, movements: list[PlannedMovement]) -> None:
        """Archive every piece of each ``outputs.archive`` type at the hub, whichever site made it.

        Pieces made elsewhere reach the hub by a return (or by an earlier movement to one of its steps); pieces
        made at the hub (a hub group, a global step) are there already. The archive waits for the producing
        steps and for every movement that brings an archived type to the hub; ``expected_count`` counts the
        (dataset type, piece) pairs it must hold (None when a type has no restriction key).
        """
        archive = sorted({name for name in self.spec.outputs.archive if self.producer_of(name, None) is not None})
        if not archive:
            return
        producers = sorted({self.producer_of(name, None) for name in archive},  # type: ignore[misc]
                           key=self.order.__getitem__)
        sources = sorted({site for p in producers for site in self.producer_sites(p)}, key=self.sites.index)
        arriving = [m.key for m in [*self.already, *movements]
                    if m.kind != "archive" and m.destination == self.hub and set(m.dataset_types) & set(archive)]
        count: int | None = 0
        for name in archive:
            made = self.produced(self.producer_of(name, None), name)  # type: ignore[arg-type]
            count = None if made is None or count is None else count + len(made)
        movements.append(
            PlannedMovement(
                key=f"archive:{self.hub}:after-{producers[-1]}",
                kind="archive",
                sources=sources,
                destination=self.hub,
                dataset_types=archive,
                collections=[step_collection(self.spec.output_prefix, p) for p in producers],
                data_ids={},
                before_step=None,
                after_steps=producers,
                expected_count=count,
                after_movements=arriving,
            )
        )

    def _carried(self, dataset_type: str, movement: PlannedMovement) -> set[Piece] | None:
        """Return the pieces of ``dataset_type`` a movement carries (None: all of it)."""
        info = self.dataflow.dataset_type(dataset_type)
        keys = info.restriction_keys() if info is not None else ()
        if not keys or not all(movement.data_ids.get(key) for key in keys):
            return None
        if len(keys) == 1:
            return {(value,) for value in movement.data_ids[keys[0]]}
        tracts = set(movement.data_ids["tract"])
        pieces: set[Piece] = set()
        for value in movement.data_ids[keys[0]]:
            visit = self.exposure_visit.get(value, value) if keys[0] == "exposure" else value
            pieces.update((value, t) for t in self.visit_tracts.get(visit, ()) if t in tracts)
        return pieces

    @staticmethod
    def _restriction(info: DatasetTypeInfo, pieces: set[Piece] | None) -> dict[str, set[int]]:
        keys = info.restriction_keys()
        if pieces is None:
            return {}
        return {key: {piece[index] for piece in pieces} for index, key in enumerate(keys)}

    def _exact_chunks(self, name: str, info: DatasetTypeInfo, pieces: set[Piece] | None, producer: str | None,
                      source: str) -> list[set[Piece] | None]:
        """Return ``pieces`` cut so that each part's restriction selects exactly it at ``source``.

        A movement restricts a visit-and-tract type by a list of visits and a list of tracts, so it carries
        every piece ``source`` made whose visit and tract are both listed: more than ``pieces`` when they are
        not a rectangle there (visit 1 read with tracts 101 and 102, visit 2 with 101 only). Such pieces are
        cut into rectangles (the tracts read with the same visits, or the visits read with the same tracts,
        whichever makes fewer), each exact.
        """
        if pieces is None or len(info.restriction_keys()) < 2 or producer is None:
            return [pieces]
        made = self.produced(producer, name)
        if made is None:
            return [pieces]
        visits, tracts = {piece[0] for piece in pieces}, {piece[1] for piece in pieces}
        held = {piece for piece, site in made.items() if site == source}
        if all(piece in pieces for piece in held if piece[0] in visits and piece[1] in tracts):
            return [pieces]
        cuts = []
        for index in (1, 0):  # by tract: the visits each tract is read with; by visit: the tracts each visit is
            others: dict[Any, set] = defaultdict(set)
            for piece in pieces:
                others[piece[index]].add(piece[1 - index])
            rectangles: dict[frozenset, set[Piece]] = defaultdict(set)
            for value, with_ in others.items():
                rectangles[frozenset(with_)].update(
                    (other, value) if index == 1 else (value, other) for other in with_)
            cuts.append(sorted(rectangles.values(), key=min))
        return min(cuts, key=len)

    def _partition(self, entry: dict[str, Any]) -> list[PlannedMovement]:
        """Return the movements of one entry: its dataset types, cut where their data IDs differ.

        A movement restricts each of its dataset types by every key of its
        ``data_ids`` among that type's dimensions, so two dataset types that
        need different values of one key cannot share a movement. The first
        part keeps the entry's key; a further part is keyed by its anchor or,
        failing that, by its first dataset type.
        """
        parts: list[dict[str, Any]] = []
        chunks = [(name, info, chunk, producer, collections)
                  for name, (info, pieces, producer, collections) in sorted(entry["types"].items())
                  for chunk in self._exact_chunks(name, info, pieces, producer, entry["source"])]
        for name, info, pieces, producer, collections in chunks:
            restriction = self._restriction(info, pieces)
            for part in parts:
                if all(part["data_ids"].get(key, values) == values for key, values in restriction.items()):
                    break
            else:
                part = {"types": {}, "data_ids": {}, "count": 0, "producers": set(), "collections": set()}
                parts.append(part)
            part["types"][name] = info
            part["data_ids"].update(restriction)
            part["count"] = None if pieces is None or part["count"] is None else part["count"] + len(pieces)
            if producer is not None:
                part["producers"].add(producer)
            part["collections"].update(collections)
        movements: list[PlannedMovement] = []
        used: set[str] = set()
        for part in parts:
            after_steps = sorted(part["producers"], key=self.order.__getitem__)
            anchor = entry["before_step"] or f"after-{after_steps[-1] if after_steps else 'end'}"
            key = f"{entry['kind']}:{entry['source']}>{entry['destination']}:{anchor}"
            if entry["kind"] == "setup":
                key += f":{entry['origin']}"
            if key in used:
                key += f":{min(part['types'])}"
            base, number = key, 2
            while key in used:  # another rectangle of the same dataset type (see _exact_chunks)
                key, number = f"{base}:{number}", number + 1
            used.add(key)
            data_ids = {key_: sorted(values) for key_, values in sorted(part["data_ids"].items()) if values}
            count = part["count"] if data_ids else None
            collections = part["collections"]
            movements.append(PlannedMovement(
                key=key, kind=entry["kind"], sources=[entry["source"]], destination=entry["destination"],
                dataset_types=sorted(part["types"]), collections=sorted(collections), data_ids=data_ids,
                before_step=entry["before_step"], after_steps=after_steps, expected_count=count,
            ))
        return movements

    def _sort_key(self, movement: PlannedMovement) -> tuple:
        anchor = self.order[movement.before_step] if movement.before_step else len(self.steps) + 1
        return (
            anchor,
            MOVEMENT_KINDS.index(movement.kind),
            self.sites.index(movement.destination),
            [self.sites.index(s) for s in movement.sources],
            movement.key,
        )
