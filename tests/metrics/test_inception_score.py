import pytest
import torch

from gankit.metrics.inception_score import inception_score


def test_uniform_predictions_score_one():
    mean, std = inception_score(torch.zeros(100, 10))
    assert mean == pytest.approx(1.0, abs=1e-12) and std == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("classes", [2, 7, 10])
def test_confident_predictions_spread_evenly_score_the_class_count(classes):
    labels = torch.arange(classes * 10 * 3) % classes  # every split holds each class 3 times
    one_hot = torch.nn.functional.one_hot(labels, classes).double()
    assert inception_score(one_hot, from_logits=False) == pytest.approx((classes, 0.0), abs=1e-9)
    assert inception_score(50 * one_hot)[0] == pytest.approx(classes, rel=1e-9)  # logits


def test_splits_are_respected():
    labels = torch.arange(40) // 10  # sorted: each of 4 splits holds a single class
    probs = torch.nn.functional.one_hot(labels, 4).numpy()
    assert inception_score(probs, splits=4, from_logits=False) == pytest.approx((1.0, 0.0))
    assert inception_score(probs, splits=1, from_logits=False)[0] == pytest.approx(4.0)
    mean, std = inception_score(probs, splits=2, from_logits=False)  # 2 classes per split
    assert (mean, std) == pytest.approx((2.0, 0.0))
    with pytest.raises(ValueError):
        inception_score(probs, splits=41)
