"""The lifecycles of every stateful model as Markdown, generated from their ``TRANSITIONS`` tables.

``manage.py lifecycles --write`` writes ``docs/lifecycles.md``; a test fails when that file and the tables
drift apart, so the state diagrams in the docs are never written by hand.
"""

from __future__ import annotations

from django.apps import apps

from core.actions import actions_of
from core.lifecycle import StatefulModel

HEADER = """# Lifecycles

Generated from each model's `TRANSITIONS` table by `manage.py lifecycles --write` (do not edit by hand;
`tests/test_transitions.py` checks this file against the tables). A verb is a method on the model; the
operator verbs (column *operator*) are also buttons in the UI, `POST /api/v1/{kind}/{id}/{verb}/` actions
and admin actions, registered by the model's app in `AppConfig.ready()`.
"""


def stateful_models() -> list[type[StatefulModel]]:
    """Return every installed model with a transition table, by app and model name."""
    models = [model for model in apps.get_models() if issubclass(model, StatefulModel) and model.TRANSITIONS]
    return sorted(models, key=lambda model: model._meta.label_lower)


def model_section(model: type[StatefulModel]) -> str:
    """Return one model's lifecycle: a Mermaid state diagram and a table of its verbs."""
    registration = actions_of(model)
    operator = set(registration.verbs) if registration else set()
    lines = [f"## {model._meta.verbose_name.capitalize()} (`{model._meta.label}`)", "", "```mermaid",
             "stateDiagram-v2"]
    for verb, (sources, target) in model.TRANSITIONS.items():
        for source in sorted(sources):
            lines.append(f"    {source} --> {target}: {verb}")
    lines += ["```", "", "| verb | from | to | operator |", "| --- | --- | --- | --- |"]
    for verb, (sources, target) in model.TRANSITIONS.items():
        lines.append(f"| `{verb}` | {', '.join(sorted(sources))} | {target} | {'yes' if verb in operator else ''} |")
    return "\n".join(lines) + "\n"


def lifecycles_markdown() -> str:
    """Return the whole ``docs/lifecycles.md``."""
    return "\n".join([HEADER] + [model_section(model) for model in stateful_models()])
