"""The leads page's words for a rule: every rule that fires is said in plain words, in both
languages, each blank filled from its own evidence, under a name of its own."""

from __future__ import annotations

from collections.abc import Iterable

from rxtrace.api.web.i18n import LANGUAGES, explain_rule, messages
from rxtrace.trace.investigate import Lead


def assert_worded(leads: Iterable[Lead]) -> set[str]:
    """Check every hit of ``leads``; returns the rules seen."""
    seen: set[str] = set()
    for lead in leads:
        for hit in lead.rules:
            seen.add(hit.rule)
            for language in LANGUAGES:
                words = explain_rule(hit.rule, hit.evidence, {}, language)
                assert words is not None, f"no {language} words for rule {hit.rule}"
                assert "?" not in words, (hit.rule, language, words)
                assert messages(language).get(f"rulename.{hit.rule}"), (hit.rule, language)
    return seen
