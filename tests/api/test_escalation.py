"""Escalation rules from data/escalation.yaml, and the emotion index checked on the shared data."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from sklearn.metrics import roc_auc_score

from api.services.escalation import EscalationConfigError, EscalationPolicy, load_policy, parse_policy
from api.services.scoring import top_tier_probability
from api.settings import DEFAULT_ESCALATION
from model.predictor import TriageModel
from model.taxonomy import Taxonomy
from model.text import normalise

from ..conftest import shared_csv
from .conftest import TestClient, create_ticket


@pytest.fixture(scope="module")
def policy(taxonomy: Taxonomy) -> EscalationPolicy:
    return load_policy(DEFAULT_ESCALATION, taxonomy)


def fired(policy: EscalationPolicy, text: str, emotion_index: int = 0) -> list[str]:
    return [firing.rule for firing in policy.fire(normalise(text), emotion_index)]


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("买的牛奶已经变质了，喝完孩子拉肚子", "safety_health"),
        ("外卖里吃出一根头发和钢丝", "safety_health"),
        ("热水器漏电，差点出事", "safety_health"),
        ("再不退款我就投诉到12315", "external_threat"),
        ("我已经咨询了律师，准备起诉你们", "external_threat"),
        ("这件事我会找媒体曝光", "external_threat"),
        ("已经向银保监会反映", "external_threat"),
        ("信用卡被盗刷了两万", "money_at_risk"),
        ("在我不知情的情况下私自扣款", "money_at_risk"),
        ("催收天天打电话骚扰我的家人和同事", "abusive_collection"),
    ],
)
def test_rules_fire_on_their_words(policy: EscalationPolicy, text: str, rule: str) -> None:
    assert rule in fired(policy, text)


@pytest.mark.parametrize(
    "text",
    [
        "饭菜没有变质，就是送得太慢了",
        "我不想起诉，只希望尽快退款",
        "工商银行的信用卡年费能不能减免",
        "快递三天没送到，请尽快处理",
        "衣服有色差，想换一件",
    ],
)
def test_rules_do_not_fire_on_ordinary_or_negated_text(policy: EscalationPolicy, text: str) -> None:
    assert fired(policy, text) == []


def test_traditional_characters_and_full_width_digits_are_covered(policy: EscalationPolicy) -> None:
    assert "safety_health" in fired(policy, "牛奶變質了")
    assert "external_threat" in fired(policy, "我要打１２３１５投訴")


def test_very_negative_emotion_forces_the_tier(policy: EscalationPolicy) -> None:
    assert fired(policy, "服务太差了", 84) == []
    assert fired(policy, "服务太差了", 85) == ["very_negative_emotion"]


def test_the_emotion_index(policy: EscalationPolicy) -> None:
    calm = policy.emotion(normalise("请问发票什么时候能开好？"), 0.0)
    assert calm.index == 0 and calm.risk is False
    angry = policy.emotion(normalise("你们这群骗子！！垃圾服务，气死我了，我要投诉到12315，找媒体曝光！"), 0.9)
    assert angry.index > 90 and angry.risk is True
    assert angry.signals["insult"] == 2 and angry.signals["threat"] >= 2
    base = policy.emotion(normalise("快递太慢了"), 0.2).index
    assert policy.emotion(normalise("快递太慢了，我要投诉到12315"), 0.2).index > base
    assert policy.emotion(normalise("快递太慢了"), 0.8).index > base
    assert 0 <= policy.emotion(normalise("垃圾" * 50 + "！！" * 50), 1.0).index <= 100


def test_an_escalated_ticket_records_the_rule_and_gets_p1_due_times(client: TestClient) -> None:
    ticket = create_ticket(client, text="衣服有点色差，如果不给退货我就投诉到12315。")
    assert ticket["tier"] == {"code": "P1", "name": "一级（紧急）"}
    assert ticket["escalation_rule"] == "external_threat"
    assert ticket["escalations"][0] == {
        "rule": "external_threat",
        "name": "扬言向监管部门/媒体/法院投诉",
        "tier": "P1",
        "matched": "12315",
    }
    assert ticket["first_response"]["due"] == "2026-11-23T11:00:00+08:00"
    assert ticket["resolution_due"] == "2026-11-24T10:00:00+08:00"
    metrics = client.get("/metrics").text
    assert 'triage_escalations_total{rule="external_threat"} 1.0' in metrics
    assert 'triage_tickets_created_total{tier="P1"} 1.0' in metrics


def test_rules_live_in_configuration(make_client: Callable[..., TestClient], tmp_path: Path) -> None:
    raw = yaml.safe_load(DEFAULT_ESCALATION.read_text(encoding="utf-8"))
    raw["rules"] = [{"code": "vip", "name": "重要客户", "tier": "P1", "patterns": ["总经理"]}]
    path = tmp_path / "escalation.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    client = make_client(escalation_rules=path)
    ticket = create_ticket(client, text="我是贵公司合作方的总经理，快递三天没送到。")
    assert ticket["escalation_rule"] == "vip" and ticket["tier"]["code"] == "P1"
    plain = create_ticket(client, text="再不退款我就投诉到12315")
    assert plain["escalation_rule"] is None


def _mutated(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    raw: dict[str, Any] = yaml.safe_load(DEFAULT_ESCALATION.read_text(encoding="utf-8"))
    change(raw)
    return raw


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda raw: raw["rules"][0].update(tier="P0"), "rules[0]: tier 'P0' is not one of P1, P2, P3"),
        (lambda raw: raw["rules"][1].update(patterns=["(unclosed"]), "rules[1]: bad pattern '(unclosed'"),
        (lambda raw: raw["rules"][2].pop("patterns"), "rules[2]: give either 'patterns' or 'min_emotion'"),
        (lambda raw: raw["rules"].append(dict(raw["rules"][0])), "duplicate rule code 'safety_health'"),
        (lambda raw: raw["emotion"].update(p_top_tier_weight="high"), "'p_top_tier_weight' must be a number"),
        (lambda raw: raw["emotion"]["features"][0].pop("weight"), "features[0]: missing 'weight'"),
        (lambda raw: raw.pop("negation"), "missing 'negation'"),
    ],
)
def test_a_broken_rules_file_is_a_clear_error(
    taxonomy: Taxonomy, change: Callable[[dict[str, Any]], None], message: str
) -> None:
    with pytest.raises(EscalationConfigError) as error:
        parse_policy(_mutated(change), taxonomy, "escalation.yaml")
    assert message in str(error.value)


def test_a_missing_rules_file_stops_the_start(make_client: Callable[..., TestClient], tmp_path: Path) -> None:
    with pytest.raises(EscalationConfigError, match="escalation rules file not found"):
        make_client(escalation_rules=tmp_path / "none.yaml")


def test_the_emotion_index_separates_p1_on_the_shared_data(policy: EscalationPolicy, sample_model: TriageModel) -> None:
    """Measured with the model trained on the project's own sample data (not on this file).

    On complaints_train.csv (2,230 rows), with the classifier of 2026-11-23: mean index P1 57,
    P2 22, P3 13; ROC AUC of P1 against the rest 0.82 (0.87 against P3 only); the lexical part
    alone (no model probability) 0.67; 82 % of the rows at 85 or more (the very_negative_emotion
    rule) are P1. The bounds leave room for changes of the classifier.
    """
    path = shared_csv("complaints_train.csv")
    with path.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    texts = [normalise(row["text"]) for row in rows]
    tiers = np.array([row["tier"] for row in rows])
    predictions = sample_model.predict_many([row["text"] for row in rows])
    probabilities = [top_tier_probability(sample_model, prediction) for prediction in predictions]
    index = np.array([policy.emotion(text, p).index for text, p in zip(texts, probabilities)])
    lexical = np.array([policy.emotion(text, 0.0).index for text in texts])
    is_p1 = tiers == "P1"
    assert index[is_p1].mean() - index[tiers == "P3"].mean() > 30
    assert index[is_p1].mean() > index[tiers == "P2"].mean() > index[tiers == "P3"].mean()
    assert roc_auc_score(is_p1, index) > 0.76
    assert roc_auc_score(is_p1, lexical) > 0.62
    high = index >= 85  # the very_negative_emotion rule
    assert is_p1[high].mean() > 0.7
