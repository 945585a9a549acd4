"""Error rules are typed by staff and run by every worker on every failure: they match in linear time."""

from __future__ import annotations

import time

import pytest
from django.core.exceptions import ValidationError

from campaigns.models import ErrorRule
from campaigns.orchestration import match_rule


@pytest.mark.parametrize("pattern", [r"(a+)+$", r"(a|aa)+$", r"(\w+\s?)+$", r"^(([a-z])+.)+[A-Z]([a-z])+$"])
def test_a_catastrophic_pattern_still_answers_at_once(pattern):
    rule = ErrorRule(name="slow", pattern=pattern, action="retry")
    rule.clean()  # RE2 takes it: it cannot backtrack
    started = time.monotonic()
    assert not rule.matches("a" * 5000 + "!")
    assert time.monotonic() - started < 1.0  # Python's re takes years on this input


@pytest.mark.parametrize(("pattern", "why"), [
    (r"(a*)*\1$", "invalid escape sequence: \\1"),
    (r"(?<=x)y", "invalid perl operator: (?<="),
    ("(", "missing ): ("),
])
def test_a_pattern_re2_cannot_match_in_linear_time_is_refused_at_its_field(pattern, why):
    with pytest.raises(ValidationError) as caught:
        ErrorRule(name="bad", pattern=pattern, action="retry").clean()
    message = caught.value.message_dict["pattern"][0]
    assert message.startswith("not a valid RE2 regular expression") and why in message


def test_a_huge_repeat_count_does_not_exhaust_memory():
    assert ErrorRule.pattern_error("a{1000000000}") is not None or not ErrorRule(
        name="big", pattern="a{1000000000}", action="retry").matches("a" * 100)


def test_rules_match_line_by_line_as_before():
    rules = [ErrorRule(name="oom", pattern=r"^Killed$", action="retry", priority=1),
             ErrorRule(name="any", pattern="Error", action="review", priority=2)]
    assert match_rule("step1 failed\nKilled\n", rules).name == "oom"
    assert match_rule("ValueError: x", rules).name == "any"
    assert match_rule("fine", rules) is None


def test_a_rule_saved_before_the_check_matches_nothing_instead_of_raising():
    assert not ErrorRule(name="old", pattern=r"(a)\1", action="retry").matches("aa")
