"""A/B from pytest: every configured repository against a reference repository
(`--ab-reference`), measured in turns on one runner until the verdict is decided.

    ./suite test tests/perf/test_ab.py --ab-reference model_repos/embedded/sample_1_instances

Red when a configured repository is slower than the reference past the threshold;
inconclusive (the runs could not tell within the plan) fails too, saying so, since a
gate that cannot tell has not passed. Without --ab-reference the test skips.
"""

import pytest

from pnsuite.verdict import verdicts
from pnsuite.verdict.gate_text import format_rows


@pytest.fixture
def reference(suite_settings):
    if suite_settings.ab_reference is None:
        pytest.skip("no --ab-reference given (the repository the configured ones are "
                    "A/B-gated against)")
    return suite_settings.ab_reference


def test_configured_repositories_are_not_slower_than_the_reference(ab_compare, reference,
                                                                   suite_settings):
    failures = []
    for repo in suite_settings.repos:
        result = ab_compare(reference, repo)
        print(f"{reference.name} -> {repo.name}: {result.verdict} ({result.stopped_because})\n"
              + format_rows(result.rows))
        if result.verdict != verdicts.OK:
            failures.append(f"{repo}: {result.verdict} ({result.stopped_because})\n"
                            + format_rows(result.rows))
    assert not failures, "\n\n".join(failures)
