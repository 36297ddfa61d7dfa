"""jieba segmentation with the domain user dictionary and stop words.

One `jieba.Tokenizer` per process, owned here (not jieba's global one), with its dictionary
loaded once by `configure` or on first use. `tokenize` is a module-level function so that a
vectoriser holding it can be pickled with the model.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

import jieba

from model.text import CJK_IDEOGRAPHS

DEFAULT_DATA_DIR = Path(__file__).resolve().parent.parent / "data"
DEFAULT_USER_DICT = DEFAULT_DATA_DIR / "userdict.txt"
DEFAULT_STOP_WORDS = DEFAULT_DATA_DIR / "stopwords.txt"

# jieba's HMM guesses words missing from the dictionary. It costs about a third of the
# segmentation time and, with character n-grams beside the words, did not help: 5-fold CV on the
# training split gave macro-F1 0.748/0.546/0.737 with it and 0.751/0.553/0.741 without.
HMM = False

# A token is kept when it holds a CJK character, a letter or a digit.
_CONTENT = re.compile(f"[{CJK_IDEOGRAPHS}A-Za-z0-9]")

jieba.setLogLevel(logging.WARNING)


# Tokens whose verdict (kept or not) `_Segmenter` remembers: a dictionary look-up is three times
# cheaper than the stop-word and content checks; the bound keeps odd input from growing it for ever.
KEPT_CACHE_MAX = 200_000


@dataclass
class _Segmenter:
    tokenizer: jieba.Tokenizer
    stop_words: frozenset[str]
    user_dict_sha256: str
    stop_words_sha256: str
    kept: dict[str, bool] = field(default_factory=dict)

    def keeps(self, token: str) -> bool:
        """Whether `token` is a content word: not a stop word, and holding a CJK character, a
        letter or a digit (remembered while the cache has room)."""
        verdict = self.kept.get(token)
        if verdict is None:
            verdict = token not in self.stop_words and _CONTENT.search(token) is not None
            if len(self.kept) < KEPT_CACHE_MAX:
                self.kept[token] = verdict
        return verdict


_lock = threading.Lock()
_segmenter: _Segmenter | None = None


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else ""


def configure(user_dict: Path = DEFAULT_USER_DICT, stop_words: Path = DEFAULT_STOP_WORDS) -> None:
    """Load jieba's dictionary and the user dictionary now (about a second), once per process.

    Calling it again with other files replaces the segmenter.
    """
    global _segmenter
    with _lock:
        tokenizer = jieba.Tokenizer()
        tokenizer.initialize()
        if user_dict.exists():
            with user_dict.open("rb") as stream:
                tokenizer.load_userdict(stream)
        words: frozenset[str] = frozenset()
        if stop_words.exists():
            lines = stop_words.read_text(encoding="utf-8").splitlines()
            words = frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))
        _segmenter = _Segmenter(tokenizer, words, _sha256(user_dict), _sha256(stop_words))


def _current() -> _Segmenter:
    if _segmenter is None:
        configure()
    assert _segmenter is not None
    return _segmenter


def resource_hashes() -> dict[str, str]:
    """What shapes the tokens (recorded in model artifacts): dictionary and stop-word hashes, HMM."""
    segmenter = _current()
    return {
        "jieba_hmm": str(HMM),
        "user_dict_sha256": segmenter.user_dict_sha256,
        "stop_words_sha256": segmenter.stop_words_sha256,
    }


def tokenize(text: str) -> list[str]:
    """The content words of (normalised) text: jieba pieces without stop words and punctuation."""
    segmenter = _current()
    known = segmenter.kept.get  # the look-up of `keeps` inlined: this loop bounds the pipeline's speed
    return [
        token
        for token in segmenter.tokenizer.cut(text, HMM=HMM)
        if (kept := known(token)) or (kept is None and segmenter.keeps(token))
    ]


def tokenize_with_spans(text: str) -> list[tuple[str, int, int]]:
    """Like `tokenize`, with each token's [start, end) offsets in `text`."""
    segmenter = _current()
    spans: list[tuple[str, int, int]] = []
    position = 0
    for token in segmenter.tokenizer.cut(text, HMM=HMM):
        start, position = position, position + len(token)
        if segmenter.keeps(token):
            spans.append((token, start, position))
    return spans
