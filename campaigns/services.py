"""Campaign domain logic: planning a spec, persisting a plan, and operator re-planning.

Views, API views, tasks and commands call these; none of them holds domain logic.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from core import queue
from core.lifecycle import bulk_transition, record_event
from planning.dataflow import PipelineDataflow, PipelineSources
from planning.inventory import ButlerInventory, DataInventory, InventoryError, TableInventory, VisitInfo
from planning.planner import (
    Plan,
    PlannedMovement,
    PlanningError,
    no_cyclic_gc,
    plan_campaign,
    reassigned_groups,
)
from planning.spec import CampaignSpec, FieldError, SpecError, load_spec, name_error
from sites.choices import RepoStatus
from sites.models import ButlerRepo, Site
from stack.paths import UnsafePath, safe_collection, safe_component
from stack.survey import make_survey
from transfers.models import Movement

from .choices import Status
from .models import ACTIVE_STATES, Campaign, CampaignTemplate, ErrorRule, Group, Job, Step
from .persist import (  # persisted_plan re-exported: the tests and callers read it from here
    dataset_type_rows,
    group_data_ids,
    persist_movements,
    persist_plan_rows,
    persisted_plan,  # noqa: F401
)


class _Inventory:
    """A fixed list of visits (the synthetic survey's, when no repository exists yet)."""

    def __init__(self, visits: list[VisitInfo]) -> None:
        self._visits = visits

    def visits(self) -> list[VisitInfo]:
        return list(self._visits)

    def tracts(self) -> list[int]:
        return sorted({tract for visit in self._visits for tract in visit.tracts})


def survey_inventory() -> DataInventory:
    """Return the inventory of the embedded default's synthetic survey (no repository needed)."""
    survey = make_survey()
    rows: dict[int, tuple[int, str, set[int]]] = {}
    for row in survey.inventory():
        rows.setdefault(row.visit, (row.exposure, row.band, set()))[2].add(row.tract)
    return _Inventory(
        [VisitInfo(v, e, b, tuple(sorted(t)), *survey.visit_centre(v)) for v, (e, b, t) in sorted(rows.items())]
    )


def inventory_for(spec: CampaignSpec) -> DataInventory:
    """Return the data inventory a spec is planned over.

    The hub's Butler repository when it is ready (the embedded default after
    ``setup_sites``); else the table file ``MSPROC_INVENTORY_FILE`` if set;
    else the synthetic survey the embedded default would create.
    """
    root = _hub_root(spec)
    if root is not None:
        return ButlerInventory(root, spec.instrument, spec.skymap)
    table = getattr(settings, "MSPROC_INVENTORY_FILE", None)
    if table:
        return TableInventory(table)
    return survey_inventory()


def _hub_root(spec: CampaignSpec) -> str | None:
    """Return the root of the hub's Butler repository when it is ready and local, else None."""
    repo = ButlerRepo.objects.filter(site__code=spec.hub, status=RepoStatus.READY).first()
    return repo.root_uri if repo is not None and Path(repo.root_uri).exists() else None


def hub_data_errors(spec: CampaignSpec) -> list[FieldError]:
    """Return an error per name of ``spec`` the hub's ready Butler repository does not know ([] without one).

    Checked: ``instrument``, ``skymap``, ``inputs.collections``, ``inputs.dataset_types`` and each
    ``defaults[i]``'s collections and dataset types (what the setup movements read at the hub).
    """
    root = _hub_root(spec)
    if root is None:
        return []
    from stack.repo import unknown_names  # loads the LSST stack: only when there is a repository to read

    collections = [(f"inputs.collections[{i}]", name) for i, name in enumerate(spec.input_collections)]
    dataset_types = [(f"inputs.dataset_types[{i}]", name) for i, name in enumerate(spec.input_dataset_types)]
    for index, entry in enumerate(spec.defaults):
        collections += [(f"defaults[{index}].collections[{i}]", name) for i, name in enumerate(entry.collections)]
        dataset_types += [(f"defaults[{index}].dataset_types[{i}]", name)
                          for i, name in enumerate(entry.dataset_types)]
    return [FieldError(path, message) for path, message in unknown_names(
        root, instrument=spec.instrument, skymap=spec.skymap, collections=collections, dataset_types=dataset_types)]


def _site_context() -> tuple[list[str], dict[str, float]]:
    sites = list(Site.objects.values_list("code", "share"))
    return [code for code, _ in sites], {code: float(share) for code, share in sites}


def pipeline_sources() -> PipelineSources:
    """Return where a spec's pipeline may come from: the shipped ones, ``MSPROC_PIPELINES_DIR`` and the
    URI prefixes of ``MSPROC_PIPELINE_URI_PREFIXES`` (each ending in ``/``, so a prefix names a directory)."""
    return PipelineSources.configured(getattr(settings, "MSPROC_PIPELINES_DIR", None),
                                      getattr(settings, "MSPROC_PIPELINE_URI_PREFIXES", None) or ())


def build_plan(spec_text: str, *, inventory: DataInventory | None = None,
               name: str | None = None, **replan: Any) -> tuple[CampaignSpec, PipelineDataflow, Plan]:
    """Validate ``spec_text`` against the known sites and its pipeline and plan it.

    ``name`` (the campaign's, when given apart from the spec) replaces the spec's name; the default
    output prefix follows it. ``replan`` (``groups``, ``delivered``) is passed to the planner when re-planning
    a running campaign. Without an ``inventory``, names the hub's ready Butler repository does not know are
    errors (`hub_data_errors`). Raises SpecError with every problem (each names its field path); a
    planning failure, or a hub repository that cannot be read, is reported at path ``""``.
    """
    known, shares = _site_context()
    spec, dataflow = load_spec(spec_text, known_sites=known, site_shares=shares, name=name,
                               sources=pipeline_sources())
    try:
        if inventory is None:
            missing = hub_data_errors(spec)
            if missing:
                raise SpecError(missing)
            inventory = inventory_for(spec)
        plan = plan_campaign(spec, inventory, dataflow,
                             collection_max_length=settings.MSPROC_COLLECTION_MAX_LENGTH, **replan)
    except (PlanningError, InventoryError) as exc:
        raise SpecError([FieldError("", str(exc))]) from exc
    return spec, dataflow, plan


def plan_spec(spec_text: str, *, inventory: DataInventory | None = None) -> dict[str, Any]:
    """Return the plan of a spec as JSON-able data, saving nothing. Raises SpecError."""
    return build_plan(spec_text, inventory=inventory)[2].to_dict()


def _check_path_values(name: str, output_prefix: str) -> None:
    """Refuse a campaign name or output prefix that cannot safely become part of a path.

    The name names the campaign's tape directory, the prefix its RUN collections (directories in each
    site's Butler datastore). Raises SpecError naming ``name`` and/or ``output_prefix``.
    """
    problems = []
    for field, value, check in (("name", name, safe_component), ("output_prefix", output_prefix, safe_collection)):
        try:
            check(value, field)
        except UnsafePath as exc:
            problems.append(FieldError(field, exc.message))
    if problems:
        raise SpecError(problems)


@transaction.atomic
def create_campaign_from_spec(
    name: str | None,
    spec_text: str,
    *,
    template: CampaignTemplate | None = None,
    owner: Any = None,
    inventory: DataInventory | None = None,
) -> Campaign:
    """Plan a spec and persist the campaign with its stages, steps, groups and movements.

    ``name`` overrides the spec's name (and so the default output prefix,
    ``u/msproc/{name}``). All or nothing: a bad spec raises SpecError and
    leaves nothing in the database. Refused (SpecError at ``name`` or
    ``output_prefix``): a name another campaign has, an output prefix
    another campaign uses (or that nests in one, or one in it), and one
    whose collections already exist in the hub's Butler repository.
    """
    with no_cyclic_gc():  # the plan is millions of objects: each full collection would walk them all
        return _create_campaign(name, spec_text, template, owner, inventory)


def preview_campaign(name: str | None, spec_text: str) -> dict[str, Any]:
    """Return the plan (JSON-able) of the campaign ``create_campaign_from_spec`` would make, saving nothing.

    The same checks as creating it: the spec, the name and output prefix against existing campaigns and the
    hub's collections. Raises SpecError with every problem.
    """
    spec, _, plan = build_plan(spec_text, name=name or None)
    _check_new_campaign(spec, plan)
    return plan.to_dict()


def _check_new_campaign(spec: CampaignSpec, plan: Plan) -> None:
    """Raise SpecError unless a campaign of this name and output prefix may be made now."""
    campaign_name = plan.name
    _check_path_values(campaign_name, plan.output_prefix)
    same = Campaign.objects.filter(name__iexact=campaign_name).values_list("name", flat=True).first()
    if same is not None:
        # names equal but for case would share collections and directories on a case-insensitive file system
        also = "" if same == campaign_name else f" ({same!r}: names may not differ only in case)"
        raise SpecError([FieldError("name", f"a campaign called {campaign_name!r} exists already{also}")])
    clash = output_prefix_clash(spec)
    if clash is not None:
        raise SpecError([clash])


def _create_campaign(name: str | None, spec_text: str, template: CampaignTemplate | None, owner: Any,
                     inventory: DataInventory | None) -> Campaign:
    spec, dataflow, plan = build_plan(spec_text, inventory=inventory, name=name or None)
    lock_campaign_names()
    _check_new_campaign(spec, plan)
    sites = {site.code: site for site in Site.objects.filter(code__in=[s.code for s in plan.sites] + [plan.hub])}
    campaign = Campaign.objects.create(
        name=plan.name, template=template, spec=spec_text, plan=plan.to_dict(), hub=sites[plan.hub],
        output_prefix=plan.output_prefix, owner=owner if getattr(owner, "is_authenticated", False) else None,
    )
    persist_plan_rows(campaign, spec, dataflow, plan, sites)
    return campaign


def lock_campaign_names() -> None:
    """Serialise campaign creation until the transaction ends, so two creations cannot both pass the checks
    of names and output prefixes (PostgreSQL advisory lock; SQLite serialises writers itself)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [0x6D7370726F63])  # "msproc"


def output_prefix_clash(spec: CampaignSpec) -> FieldError | None:
    """Return why ``spec``'s output prefix cannot be used by a new campaign, or None.

    It must not equal another campaign's prefix, lie under one or contain one (their collections would
    mix), ignoring case, and no collection under it may exist yet in the hub's Butler repository.
    """
    prefix = spec.output_prefix
    parts = prefix.split("/")
    ancestors = ["/".join(parts[:end]) for end in range(1, len(parts) + 1)]
    # case-insensitively: collections under u/A and u/a share directories on a case-insensitive file system
    under = Q(output_prefix__istartswith=f"{prefix}/")
    for ancestor in ancestors:
        under |= Q(output_prefix__iexact=ancestor)
    other = Campaign.objects.filter(under).values_list("name", "output_prefix").first()
    if other is not None:
        relation = "is the output prefix of" if other[1].lower() == prefix.lower() else "overlaps the output prefix of"
        return FieldError(spec.output_prefix_path, f"{prefix!r} {relation} campaign {other[0]!r} "
                                                   f"({other[1]!r}); choose another")
    existing = hub_collections(spec.hub, prefix)
    if existing:
        return FieldError(spec.output_prefix_path, f"{prefix!r}: the hub's Butler repository already has "
                                                   f"collection(s) {', '.join(existing[:3])}; choose another")
    return None


def hub_collections(hub: str, prefix: str) -> list[str]:
    """Return the collections named ``prefix`` or under ``prefix/`` in ``hub``'s ready Butler repository
    (empty when it has no repository here)."""
    repo = ButlerRepo.objects.filter(site__code=hub, status=RepoStatus.READY).first()
    if repo is None or not Path(repo.root_uri).exists():
        return []
    from lsst.daf.butler import Butler

    butler = Butler.from_config(repo.root_uri, writeable=False)
    try:
        names = butler.collections.query(f"{prefix}*")
    finally:
        butler.close()
    return sorted(name for name in names if name == prefix or name.startswith(f"{prefix}/"))


def load_templates() -> list[CampaignTemplate]:
    """Make the shipped templates (2x4, 2x2, ...) the latest CampaignTemplate version of their name; return them.

    A name not in the database gets version 1. When the shipped text differs from the latest version's
    (a newer msproc changed the template), it is added as the next version: older versions, and the
    campaigns built from them, are kept as they were. Idempotent.
    """
    directory = Path(__file__).resolve().parent.parent / "planning" / "templates"
    templates = []
    for path in sorted(directory.glob("*.yaml")):
        text = path.read_text()
        name = path.stem
        latest = CampaignTemplate.objects.filter(name=name).order_by("-version").first()
        if latest is not None and latest.spec == text:
            templates.append(latest)
            continue
        description = yaml.safe_load(text).get("description", "") if text else ""
        try:
            with transaction.atomic():
                latest = CampaignTemplate.objects.create(
                    name=name, version=latest.version + 1 if latest else 1, spec=text,
                    description=description or f"shipped template {name}")
        except IntegrityError:  # another process loaded it at the same moment
            latest = CampaignTemplate.objects.filter(name=name).order_by("-version").first()
        templates.append(latest)
    return templates


class ReassignError(ValueError):
    """A reassignment was refused (e.g. the site is still online, or the same site was chosen)."""


#: Groups a reassignment moves: every unfinished group (those a reject gives up) but those with an attempt
#: being submitted or running (a start or accept leaves them) and the reviewable ones (they partly
#: succeeded: their outputs are at the site, an operator decides).
PENDING_FOR_REASSIGN = Group.sources_of("reject") - Group.sources_of("start", "accept") - {Status.REVIEWABLE}
#: What happens to outputs the lost site already made: made again at the new site, or moved once it is back.
REASSIGN_MODES = ("remake", "wait")


def reassign_site_groups(campaign: Campaign, from_site: Site, to_site: Site, *, mode: str = "remake",
                         preview: bool = False, actor: Any = None, comment: str = "") -> dict[str, Any]:
    """Move a campaign's groups from a site that is down to another, re-planning from what exists where.

    The planner re-plans the campaign with ``from_site``'s tracts given to ``to_site`` and with the groups as
    they stand: pending groups of ``from_site`` move to ``to_site``; outputs its accepted groups made are
    either made again at ``to_site`` (``mode="remake"``: a new group per accepted group, its step reopened;
    groups downstream at ``to_site`` wait for it) or moved from ``from_site`` once it is back online
    (``mode="wait"``: movements from ``from_site`` that wait for it). What done or in-flight movements
    (registering, transferring, ingesting) already carry is not moved again; movements not started
    (planned, ready, stuck, failed) are brought in line with the new plan (updated, or cancelled when no
    longer needed); what the new plan needs beyond a done or in-flight movement is added beside it.

    With ``preview`` nothing is changed. Returns counts ``{"groups", "groups_remade", "movements_added",
    "movements_updated", "movements_cancelled"}`` and ``{"mode", "waits_for", "remade", "added", "updated",
    "cancelled"}``: what it costs (the remade groups with their visit and tract counts, each added movement
    with its kind, sources, destination and expected pieces; ``waits_for`` the site movements wait for).

    Raises ReassignError, changing nothing, when ``from_site`` is online, the hub, or takes no part in the
    campaign; ``to_site`` is ``from_site``, not online or takes no part in the campaign; ``mode`` is unknown;
    or the campaign's stored spec no longer plans.
    """

    if mode not in REASSIGN_MODES:
        raise ReassignError(f"mode: must be one of {', '.join(REASSIGN_MODES)}, got {mode!r}")
    if from_site.pk == to_site.pk:
        raise ReassignError("to_site: choose another site than the one being emptied")
    plan = Plan.from_dict(campaign.plan)
    taking_part = [site.code for site in plan.sites]
    if from_site.code not in taking_part:
        raise ReassignError(f"from_site: {from_site.code} takes no part in campaign {campaign.name}")
    if to_site.code not in taking_part:
        raise ReassignError(f"to_site: {to_site.code} takes no part in campaign {campaign.name} "
                            f"(choose one of {', '.join(c for c in taking_part if c != from_site.code)})")
    if from_site.status == "online":
        raise ReassignError(f"from_site: {from_site.code} is online; drain it or take it offline first")
    if to_site.status != "online":
        raise ReassignError(f"to_site: {to_site.code} is {to_site.status}")
    if from_site.code == plan.hub:
        raise ReassignError("from_site: the hub's global steps cannot move; bring the hub back online")

    done = set(Group.objects.filter(campaign=campaign, site=from_site, status="accepted")
               .values_list("step__name", "ordinal"))
    # prepared or running: an attempt at the backend that a reassignment cannot take back
    running = Group.objects.filter(campaign=campaign, site=from_site, status__in=Group.sources_of("start", "accept"))
    if running.exists():
        raise ReassignError(f"from_site: {running.count()} group(s) of {campaign.name} are still running at "
                            f"{from_site.code}; wait for them to finish or fail, or reject them first")
    groups, remade = reassigned_groups(plan, from_site.code, to_site.code, done, remake=mode == "remake")
    existing = {m.key: m for m in Movement.objects.filter(campaign=campaign).select_related(
        "destination", "before_step").prefetch_related("sources", "dataset_types", "after_steps")}
    carrying = Movement.sources_of("mark_stuck") | {Movement.target_of("finish")}  # in flight or done
    delivered = [_planned_movement(m, PlannedMovement) for m in existing.values() if m.status in carrying]

    tract_map = {tract: (to_site.code if site.code == from_site.code else site.code)
                 for site in plan.sites for tract in site.tracts}
    document = yaml.safe_load(campaign.spec) or {}
    document["tract_map"] = tract_map
    document["sites"] = taking_part  # the lost site keeps no tract, but may still hold what it made
    # The campaign keeps its own collections: the re-plan is of this campaign, not of the spec's name.
    document["output_prefix"] = campaign.output_prefix
    try:
        spec, dataflow, new_plan = build_plan(yaml.safe_dump(document, sort_keys=False),
                                              name=campaign.name if not name_error(campaign.name) else None,
                                              groups=groups, delivered=delivered)
    except SpecError as exc:  # e.g. a spec stored before a validation rule it breaks was added
        raise ReassignError(f"campaigns: {campaign.name} cannot be re-planned from its spec: "
                            + "; ".join(str(error) for error in exc.errors[:5])) from exc

    added: list[PlannedMovement] = []
    updated: list[tuple[Movement, PlannedMovement]] = []
    wanted = {planned.key for planned in new_plan.movements}
    cancelled = [m for m in existing.values() if m.status in Movement.sources_of("cancel") and m.key not in wanted]
    for planned in new_plan.movements:
        current = existing.get(planned.key)
        if current is None:
            added.append(planned)
        elif current.status in Movement.sources_of("cancel"):  # not started (or stuck/failed: brought in line)
            if (current.data_ids != planned.data_ids or current.expected_count != planned.expected_count
                    or sorted(s.code for s in current.sources.all()) != sorted(planned.sources)
                    or sorted(d.name for d in current.dataset_types.all()) != planned.dataset_types
                    or (planned.kind == "archive" and set(planned.after_movements) != set(
                        current.after_movements.values_list("key", flat=True)))):
                updated.append((current, planned))
        elif current.status in carrying and planned.kind != "archive":
            # The new plan's movement holds only what the done/in-flight one does not carry: add it beside.
            suffix = 1
            while f"{planned.key}+reassigned{suffix if suffix > 1 else ''}" in existing:
                suffix += 1
            added.append(dataclasses.replace(planned, key=f"{planned.key}+reassigned{suffix if suffix > 1 else ''}"))
    pending = Group.objects.filter(campaign=campaign, site=from_site, status__in=PENDING_FOR_REASSIGN)
    waits_for = sorted({code for m in added for code in m.sources if code == from_site.code})
    result: dict[str, Any] = {
        "mode": mode,
        "groups": pending.count(),
        "groups_remade": len(remade),
        "movements_added": len(added),
        "movements_updated": len(updated),
        "movements_cancelled": len(cancelled),
        "waits_for": waits_for,
        "remade": [{"step": name, "replaces": old, "ordinal": new.ordinal, "visits": len(new.visits),
                    "tracts": len(new.tracts)} for name, new, old in remade],
        "added": [{"key": m.key, "kind": m.kind, "sources": m.sources, "destination": m.destination,
                   "dataset_types": m.dataset_types, "expected_count": m.expected_count} for m in added],
        "updated": [m.key for m, _ in updated],
        "cancelled": [m.key for m in cancelled],
    }
    if preview:
        return result
    with transaction.atomic():
        _apply_reassignment(campaign, from_site, to_site, pending, remade, added, updated, cancelled, new_plan,
                            dataflow, actor=actor, comment=comment)
    return result


def _planned_movement(movement: Movement, cls: type) -> Any:
    """Return a Movement row as the planner's PlannedMovement (what it carries)."""
    return cls(key=movement.key, kind=movement.kind, sources=[s.code for s in movement.sources.all()],
               destination=movement.destination.code,
               dataset_types=sorted(d.name for d in movement.dataset_types.all()),
               collections=list(movement.collections), data_ids=dict(movement.data_ids),
               before_step=movement.before_step.name if movement.before_step else None,
               after_steps=sorted(s.name for s in movement.after_steps.all()), expected_count=movement.expected_count)


def _apply_reassignment(campaign: Campaign, from_site: Site, to_site: Site, pending, remade, added, updated,
                        cancelled, new_plan: Plan, dataflow: PipelineDataflow, *, actor: Any, comment: str) -> None:
    note = f"{from_site.code} -> {to_site.code}" + (f": {comment}" if comment else "")
    moved = list(pending.values_list("pk", flat=True))
    Group.objects.filter(pk__in=moved).update(site=to_site)
    for group in Group.objects.filter(pk__in=moved):
        record_event(group, "reassign", group.status, group.status, actor=actor, comment=note)
    steps = {step.name: step for step in Step.objects.filter(campaign=campaign)}
    for step_name, group, old_ordinal in remade:
        step = steps[step_name]
        new = Group.objects.create(campaign=campaign, step=step, site=to_site, ordinal=group.ordinal,
                                   data_query=group.data_query, data_ids=group_data_ids(group))
        record_event(new, "remake", "", new.status, actor=actor,
                     comment=f"remakes group {old_ordinal} of {step_name} ({note})")
        if step.status == "accepted":
            step.remake(actor=actor, comment=f"group {old_ordinal} is made again at {to_site.code} ({note})")
    for movement in cancelled:
        movement.cancel(actor=actor, comment=f"reassigned {note}")
    sites = {site.code: site for site in Site.objects.all()}
    for movement, planned in updated:
        movement.data_ids, movement.expected_count = planned.data_ids, planned.expected_count
        movement.save(update_fields=["data_ids", "expected_count", "updated"])
        movement.sources.set([sites[code] for code in planned.sources])
        types = dataset_type_rows(dataclasses.replace(new_plan, movements=[planned]), dataflow)
        movement.dataset_types.set([types[name] for name in planned.dataset_types])
    if added:
        persist_movements(campaign, dataclasses.replace(new_plan, movements=added), dataflow, steps, sites)
    for movement, planned in updated:
        if planned.after_movements:
            movement.after_movements.set(Movement.objects.filter(campaign=campaign, key__in=planned.after_movements))
    Campaign.objects.filter(pk=campaign.pk).update(plan=new_plan.to_dict())


# Rules campaign pilots start from; editable in the admin and the API. Name, pattern, action, max retries.
DEFAULT_ERROR_RULES = (
    ("mock simulated failure", r"Simulated failure: task=", "retry", 2),
    ("runner died", r"the local runner died without leaving a result", "retry", 2),
    ("out of memory", r"MemoryError|Killed|OOM", "retry", 1),
    ("timed out", r"timed out|TimeoutExpired", "retry", 1),
    ("missing input collection", r"MissingCollectionError|Collection .* not found", "review", 0),
    ("output run exists", r"ConflictingDefinitionError|Output run .* already exists", "review", 0),
    ("empty quantum graph", r"QuantumGraph was empty", "review", 0),
)


def load_error_rules() -> list[ErrorRule]:
    """Create the default ErrorRules if missing (existing ones are left as operators edited them)."""
    rules = []
    for priority, (name, pattern, action, retries) in enumerate(DEFAULT_ERROR_RULES, start=1):
        rule, _ = ErrorRule.objects.get_or_create(
            name=name, defaults={"pattern": pattern, "action": action, "max_retries": retries,
                                 "priority": priority * 10})
        rules.append(rule)
    return rules


# ---------------------------------------------------------------------------------------- giving up on attempts

#: Job states of an attempt still alive at its backend (or about to be submitted): those a reject leaves
#: that are active.
LIVE_ATTEMPT_STATES = Job.sources_of("reject") & ACTIVE_STATES
#: Group verbs that give up on the group's current attempt: those leaving a state with a live attempt.
ABANDONING_GROUP_VERBS = frozenset(verb for verb in Group.TRANSITIONS
                                   if Group.sources_of(verb) & ACTIVE_STATES
                                   and Group.target_of(verb) not in ACTIVE_STATES)


def cancel_live_attempts(groups, *, actor=None, comment: str = "") -> list[int]:
    """Reject the live attempts (prepared, running or blocked jobs) of ``groups`` and cancel them at their backend.

    The jobs are rejected at once, set-based: the reconciler stops polling them and a queued submit skips
    them. The backend's cancel (PanDA: the plugin's cancel, i.e. iDDS abort; local: the run's processes are
    stopped) runs after the transaction commits, in the ``campaigns.tasks.cancel_job`` task, retried while
    the backend is unreachable. Returns the ids of the jobs rejected.
    """
    live = Job.objects.filter(group__in=groups)
    rejected: list[int] = []
    while moved := bulk_transition(live, "reject", sources=LIVE_ATTEMPT_STATES, actor=actor,
                                   comment=comment or "cancelled", campaign_field="group__campaign_id",
                                   limit=1000, finished_at=timezone.now()):
        rejected += [pk for pk, _ in moved]
    for pk in rejected:
        queue.send_on_commit("campaigns.tasks.cancel_job", pk)
    return rejected


def act_on_group(group: Group, verb: str, *, actor=None, comment: str = "") -> Group:
    """Call an operator verb on a group; one that gives up its live attempt (retry or force-accept of a blocked
    group, reject) also cancels that attempt at the backend. Raises IllegalTransition, changing nothing."""
    with transaction.atomic():
        getattr(group, verb)(actor=actor, comment=comment)
        if verb in ABANDONING_GROUP_VERBS:
            cancel_live_attempts(Group.objects.filter(pk=group.pk), actor=actor,
                                 comment=f"group {verb}" + (f": {comment}" if comment else ""))
    return group


def reject_with_attempts(obj: Campaign | Step, *, actor=None, comment: str = "") -> Campaign | Step:
    """Reject a campaign or a step: its unfinished groups are rejected too, and their live attempts are cancelled
    at their backends. Groups already accepted stay accepted. Raises IllegalTransition, changing nothing."""
    groups = Group.objects.filter(campaign=obj) if isinstance(obj, Campaign) else Group.objects.filter(step=obj)
    note = f"{obj._meta.model_name} rejected" + (f": {comment}" if comment else "")
    with transaction.atomic():
        obj.reject(actor=actor, comment=comment)
        cancel_live_attempts(groups, actor=actor, comment=note)
        while bulk_transition(groups, "reject", actor=actor, comment=note, limit=1000, finished_at=timezone.now()):
            pass
    return obj
