"""TF-IDF features: reading the texts in chunks changes nothing but the memory it takes."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from model import features
from model.features import TextFeatures
from model.text import normalise
from training.data import LabeledRow


def _same(a: sp.csr_matrix, b: sp.csr_matrix) -> bool:
    return (
        a.shape == b.shape
        and np.array_equal(a.indptr, b.indptr)
        and np.array_equal(a.indices, b.indices)
        and np.array_equal(a.data, b.data)
    )


@pytest.mark.parametrize("ranges", [((1, 1), (1, 2)), ((1, 2), (1, 3))])
def test_features_read_in_chunks_are_those_read_at_once(
    sample_rows: list[LabeledRow], monkeypatch: pytest.MonkeyPatch, ranges: tuple[tuple[int, int], tuple[int, int]]
) -> None:
    texts = [normalise(row.text) for row in sample_rows]
    whole = TextFeatures(*ranges)
    expected = whole.fit_transform(texts)
    assert len(texts) < features.CHUNK_ROWS  # one chunk above, 97 texts a chunk below
    monkeypatch.setattr(features, "CHUNK_ROWS", 97)
    chunked = TextFeatures(*ranges)
    assert _same(chunked.fit_transform(texts), expected)
    assert chunked.feature_names_ == whole.feature_names_ and chunked.word_vocabulary_ == whole.word_vocabulary_
    np.testing.assert_array_equal(chunked.idf_, whole.idf_)
    np.testing.assert_array_equal(chunked.char_keys_, whole.char_keys_)
    assert _same(chunked.transform(texts[:300]), whole.transform(texts[:300]))
    assert chunked.transform([]).shape == (0, len(whole.idf_))
    # A text of n-grams seen once only (min_df 2) still has its row, empty.
    assert chunked.transform(["鼴鼴"]).nnz == 0
