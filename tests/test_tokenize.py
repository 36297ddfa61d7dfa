"""jieba segmentation with the domain dictionary and stop words."""

from __future__ import annotations

import hashlib

import pytest

from model import tokenize as tokenizer_module
from model.tokenize import DEFAULT_STOP_WORDS, DEFAULT_USER_DICT, resource_hashes, tokenize, tokenize_with_spans


def test_domain_words_stay_whole() -> None:
    tokens = tokenize("吃了以后吃坏肚子，客服还踢皮球")
    assert "吃坏肚子" in tokens
    assert "踢皮球" in tokens


def test_stop_words_and_punctuation_are_removed_but_negations_stay() -> None:
    tokens = tokenize("我的手机 没有 坏了，。！")
    assert "的" not in tokens and "," not in tokens and "。" not in tokens
    assert "没有" in tokens


def test_rare_characters_beyond_the_basic_plane_are_content() -> None:
    # 𠮷 (U+20BB7, extension B) of 𠮷野家 is a Chinese character like any other.
    assert "𠮷" in tokenize("𠮷野家的外卖送晚了")
    assert [token for token, _, _ in tokenize_with_spans("𠮷野家")][:1] == ["𠮷"]


def test_remembered_verdicts_give_the_same_tokens_and_the_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "我的快递三天没到，客服态度差！！ABC123 ㄅㄆ 𠀀"  # stop words, punctuation, letters, bopomofo, CJK ext. B
    tokenizer_module.configure()  # a new segmenter: nothing remembered yet
    first = tokenize(text)
    segmenter = tokenizer_module._current()
    assert first == tokenize(text) == [token for token, _, _ in tokenize_with_spans(text)]
    assert "的" not in first and "！" not in first and "快递" in first and "ABC123" in first
    assert segmenter.kept["的"] is False and segmenter.kept["快递"] is True
    monkeypatch.setattr(tokenizer_module, "KEPT_CACHE_MAX", len(segmenter.kept))
    other = "手机屏幕碎了要求换货"
    assert tokenize(other) == tokenize(other) and "换货" in tokenize(other)
    assert len(segmenter.kept) == tokenizer_module.KEPT_CACHE_MAX  # full: the verdicts are computed, not kept
    assert "换货" not in segmenter.kept


def test_spans_point_at_the_tokens() -> None:
    text = "快递员把包裹放驿站了"
    spans = tokenize_with_spans(text)
    assert [token for token, _, _ in spans] == tokenize(text) != []
    for token, start, end in spans:
        assert text[start:end] == token


def test_resource_hashes_identify_the_dictionary_files() -> None:
    hashes = resource_hashes()
    assert hashes["user_dict_sha256"] == hashlib.sha256(DEFAULT_USER_DICT.read_bytes()).hexdigest()
    assert hashes["stop_words_sha256"] == hashlib.sha256(DEFAULT_STOP_WORDS.read_bytes()).hexdigest()
