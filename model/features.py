"""TF-IDF features of jieba word n-grams and character n-grams, computed in one pass per text.

Equivalent to stacking two scikit-learn `TfidfVectorizer`s (smooth idf, optional sublinear tf,
each block L2-normalised), but each text is segmented once and its n-grams are counted with
`collections.Counter`, which makes transform several times faster: the classifier's whole
pipeline has to keep up with jieba itself.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from itertools import chain, repeat

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.preprocessing import normalize

from model.tokenize import tokenize


def word_ngrams(tokens: list[str], low: int, high: int) -> list[str]:
    """Word n-grams of a token list, n in [low, high], tokens joined by one space."""
    grams = list(tokens) if low == 1 else []
    for n in range(max(2, low), high + 1):
        grams.extend(" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    return grams


def char_ngrams(text: str, low: int, high: int) -> list[str]:
    """Character n-grams of lower-cased text, n in [low, high]."""
    text = text.lower()
    grams = list(text) if low == 1 else []
    for n in range(max(2, low), high + 1):
        grams.extend(text[i : i + n] for i in range(len(text) - n + 1))
    return grams


class TextFeatures(TransformerMixin, BaseEstimator):
    """Word and character n-gram TF-IDF of normalised texts, as one sparse matrix.

    Columns are the word block (`word_vocabulary_`) followed by the character block
    (`char_vocabulary_`); `feature_names_[j]` is `(kind, term)` for column j.
    """

    def __init__(
        self,
        word_ngram_range: tuple[int, int] = (1, 2),
        char_ngram_range: tuple[int, int] | None = (1, 3),
        min_df: int = 2,
        sublinear_tf: bool = True,
    ) -> None:
        self.word_ngram_range = word_ngram_range
        self.char_ngram_range = char_ngram_range
        self.min_df = min_df
        self.sublinear_tf = sublinear_tf

    def _grams(self, text: str) -> tuple[list[str], list[str]]:
        words = word_ngrams(tokenize(text), *self.word_ngram_range)
        chars = char_ngrams(text, *self.char_ngram_range) if self.char_ngram_range else []
        return words, chars

    def fit(self, X: Sequence[str], y: object = None) -> TextFeatures:
        """Learn both vocabularies and their idf from normalised texts."""
        self.fit_transform(X)
        return self

    def fit_transform(self, X: Sequence[str], y: object = None, **fit_params: object) -> sp.csr_matrix:
        """Fit and return the feature matrix of X."""
        grams = [self._grams(text) for text in X]
        n_documents = len(grams)
        self.word_vocabulary_, word_idf = self._vocabulary((words for words, _ in grams), n_documents)
        self.char_vocabulary_, char_idf = self._vocabulary((chars for _, chars in grams), n_documents)
        self.idf_ = np.concatenate([word_idf, char_idf])
        self.feature_names_ = [("word", term) for term in self.word_vocabulary_] + [
            ("char", term) for term in self.char_vocabulary_
        ]
        return self._matrix(grams)

    def _vocabulary(
        self, documents: Iterable[list[str]], n_documents: int
    ) -> tuple[dict[str, int], NDArray[np.float64]]:
        frequency: Counter[str] = Counter()
        for grams in documents:
            frequency.update(set(grams))
        terms = sorted(term for term, df in frequency.items() if df >= self.min_df)
        df = np.array([frequency[term] for term in terms], dtype=np.float64)
        idf = np.log((1 + n_documents) / (1 + df)) + 1
        return {term: index for index, term in enumerate(terms)}, idf

    def transform(self, X: Sequence[str]) -> sp.csr_matrix:
        """The feature matrix of normalised texts."""
        return self._matrix([self._grams(text) for text in X])

    def _block(self, documents: list[list[str]], vocabulary: dict[str, int], idf: NDArray[np.float64]) -> sp.csr_matrix:
        # Look every n-gram of the batch up in one C-level pass; building the matrix from
        # (row, column) pairs sums repeated n-grams into counts.
        lengths = np.fromiter((len(grams) for grams in documents), dtype=np.int64, count=len(documents))
        columns = np.fromiter(
            map(vocabulary.get, chain.from_iterable(documents), repeat(-1)), dtype=np.int64, count=int(lengths.sum())
        )
        rows = np.repeat(np.arange(len(documents)), lengths)
        known = columns >= 0
        matrix = sp.csr_matrix(
            (np.ones(int(known.sum())), (rows[known], columns[known])), shape=(len(documents), len(vocabulary))
        )
        matrix.sum_duplicates()
        if self.sublinear_tf:
            np.log(matrix.data, out=matrix.data)
            matrix.data += 1
        matrix.data *= idf[matrix.indices]
        return normalize(matrix, copy=False)

    def _matrix(self, grams: list[tuple[list[str], list[str]]]) -> sp.csr_matrix:
        n_words = len(self.word_vocabulary_)
        words = self._block([w for w, _ in grams], self.word_vocabulary_, self.idf_[:n_words])
        chars = self._block([c for _, c in grams], self.char_vocabulary_, self.idf_[n_words:])
        return sp.hstack([words, chars], format="csr")
