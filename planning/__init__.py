"""Campaign planning: spec + data inventory + pipeline dataflow -> plan.

Plain Python, no Django imports: the Django side (``campaigns``) wraps
:func:`planning.planner.plan_campaign` and persists
:meth:`Plan.to_dict`.
"""
