"""Precision and recall of each rule family on the labeled corpus."""

from collections import Counter

import pytest

from audit.analysis import RULES_BY_CODE, Family
from tests.audit.corpus import analyze, labels, reported, sample_paths

PRECISION_TARGET = 0.9
RECALL_TARGET = 0.9


def family_scores(family: Family) -> tuple[float, float, int]:
    """Return (precision, recall, true positives) of a family over the corpus."""
    true_positives = false_positives = false_negatives = 0
    for path in sample_paths():
        marks = labels(path)
        truth = +Counter(
            {
                hit: n
                for hit, n in (marks.expect + marks.miss).items()
                if RULES_BY_CODE[hit[1]].family == family
            }
        )
        found = Counter(
            {
                hit: n
                for hit, n in reported(analyze(path)).items()
                if RULES_BY_CODE[hit[1]].family == family
            }
        )
        hits = truth & found
        true_positives += sum(hits.values())
        false_positives += sum((found - hits).values())
        false_negatives += sum((truth - hits).values())
    precision = true_positives / (true_positives + false_positives)
    recall = true_positives / (true_positives + false_negatives)
    return precision, recall, true_positives


@pytest.mark.parametrize("family", list(Family), ids=str)
def test_analyzer__precision_and_recall_per_family(family: Family) -> None:
    precision, recall, true_positives = family_scores(family)
    assert true_positives >= 15
    assert precision >= PRECISION_TARGET, precision
    assert recall >= RECALL_TARGET, recall
