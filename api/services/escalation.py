"""Escalation rules and the emotion index (情绪指数), both read from `data/escalation.yaml`.

The emotion index of a complaint is `round(100 × (1 − e^(−s)))` with
`s = Σ weight_f × min(count_f, cap_f) + p_top_tier_weight × P(top tier)`: counts of intensity
words, angry words, insults, bursts of ! and ?, threats to go outside and words of harm, plus
the model's probability of the most urgent tier. 0 means no sign of emotion; above
`risk_threshold` (70, as in the analysis report) the ticket is an escalation risk.

A rule fires on a pattern match that is not negated just before it (`没有变质`), on an emotion
index at or above its `min_emotion`, or on a predicted subtype in its `subtypes` (how an operator
raises a subtype's tier, say 配送延迟 to P2 during a surge). A rule never lowers a tier: the
ticket gets the most urgent of the model's tier and the tiers of the rules that fired
(`api.services.scoring.routed_tier`).

`head_at_intake` lists the tiers whose tickets go to the department head (部门负责人) as soon as
they are filed, or as soon as a review gives them such a tier (practice document 003: 紧急投诉需第一时间
升级至部门负责人（如客服经理）协调处理; `api.services.urgent_escalation`); an empty list turns it off.

`contacts` (optional) names, per department of the taxonomy (its name, 技术部, or its code, tech),
whom an escalation notification of each level is for: `supervisor` (level 1) and `head` (level 2),
strings the receiving gateway routes on (`api.services.notifications`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model.taxonomy import Taxonomy, read_yaml

RULE_KINDS = ("patterns", "min_emotion", "subtypes")
"""What a rule fires on; a rule gives exactly one of them."""


class EscalationConfigError(ValueError):
    """The escalation file is missing or malformed; the message names the file and entry."""


@dataclass(frozen=True)
class EmotionFeature:
    """A family of emotion signals: its weight per match and the most matches that count."""

    code: str
    name: str
    weight: float
    cap: int
    pattern: re.Pattern[str]


@dataclass(frozen=True)
class EscalationRule:
    """A rule that raises the tier to `tier`: on a text pattern, on an emotion index ≥
    `min_emotion`, or on a predicted subtype among `subtypes` (codes mapped to their names)."""

    code: str
    name: str
    tier: str
    pattern: re.Pattern[str] | None
    min_emotion: int | None
    subtypes: dict[str, str] | None = None


@dataclass(frozen=True)
class Firing:
    """A rule that fired, and what made it fire (the matched words or the index)."""

    rule: str
    name: str
    tier: str
    matched: str

    def to_dict(self) -> dict[str, str]:
        """JSON-ready form (stored on the ticket)."""
        return {"rule": self.rule, "name": self.name, "tier": self.tier, "matched": self.matched}


@dataclass(frozen=True)
class Contacts:
    """Who is told of a department's escalations: its supervisor (level 1) and head (level 2)."""

    supervisor: str | None = None
    head: str | None = None


CONTACT_KEYS = ("supervisor", "head")


@dataclass(frozen=True)
class Emotion:
    """An emotion index and the signal counts behind it."""

    index: int
    risk: bool
    signals: dict[str, int]


class EscalationPolicy:
    """The rules and the emotion index, compiled from the configuration."""

    def __init__(
        self,
        *,
        negation: re.Pattern[str],
        features: Sequence[EmotionFeature],
        top_tier_weight: float,
        risk_threshold: int,
        rules: Sequence[EscalationRule],
        head_at_intake: Sequence[str] = (),
        contacts: dict[str, Contacts] | None = None,
        source: str = "",
    ) -> None:
        self.negation = negation
        self.features = tuple(features)
        self.top_tier_weight = top_tier_weight
        self.risk_threshold = risk_threshold
        self.rules = tuple(rules)
        self.head_at_intake = frozenset(head_at_intake)
        """Tiers escalated to the department head when a ticket gets them (at intake or review)."""
        self.contacts = dict(contacts or {})
        """Whom notifications are for, by department code (departments without an entry: nobody named)."""
        self.source = source

    def _matches(self, pattern: re.Pattern[str], text: str) -> list[str]:
        found = []
        for match in pattern.finditer(text):
            if not self.negation.search(text[max(0, match.start() - 4) : match.start()]):
                found.append(match.group())
        return found

    def emotion(self, text: str, top_tier_probability: float) -> Emotion:
        """The emotion index of a normalised text given the model's P(most urgent tier)."""
        signals: dict[str, int] = {}
        strength = self.top_tier_weight * min(max(top_tier_probability, 0.0), 1.0)
        for feature in self.features:
            count = len(self._matches(feature.pattern, text))
            signals[feature.code] = count
            strength += feature.weight * min(count, feature.cap)
        index = min(100, max(0, round(100 * (1 - math.exp(-strength)))))
        return Emotion(index, index > self.risk_threshold, signals)

    def fire(self, text: str, emotion_index: int, subtype: str | None = None) -> list[Firing]:
        """Every rule that fires on a normalised text, its emotion index and its predicted
        subtype, in file order (without a subtype, the `subtypes` rules do not fire)."""
        fired = []
        for rule in self.rules:
            if rule.pattern is not None:
                matches = self._matches(rule.pattern, text)
                if matches:
                    fired.append(Firing(rule.code, rule.name, rule.tier, "、".join(dict.fromkeys(matches))[:100]))
            elif rule.min_emotion is not None:
                if emotion_index >= rule.min_emotion:
                    fired.append(Firing(rule.code, rule.name, rule.tier, f"情绪指数 {emotion_index}"))
            elif rule.subtypes is not None and subtype is not None and subtype in rule.subtypes:
                fired.append(Firing(rule.code, rule.name, rule.tier, rule.subtypes[subtype]))
        return fired

    def describe(self) -> dict[str, Any]:
        """JSON-ready summary (for the model endpoint)."""
        return {
            "risk_threshold": self.risk_threshold,
            "head_at_intake": sorted(self.head_at_intake),
            "rules": [
                {
                    "code": rule.code,
                    "name": rule.name,
                    "tier": rule.tier,
                    "min_emotion": rule.min_emotion,
                    "subtypes": list(rule.subtypes) if rule.subtypes is not None else None,
                }
                for rule in self.rules
            ],
        }


def _compile(patterns: Any, where: str) -> re.Pattern[str]:
    if not isinstance(patterns, list) or not patterns or not all(isinstance(p, str) and p for p in patterns):
        raise EscalationConfigError(f"{where}: 'patterns' must be a non-empty list of strings")
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as error:
            raise EscalationConfigError(f"{where}: bad pattern {pattern!r}: {error}") from None
    return re.compile("|".join(f"(?:{pattern})" for pattern in patterns))


def _subtypes(codes: Any, taxonomy: Taxonomy, where: str) -> dict[str, str]:
    """The subtype codes of a rule, each mapped to its name; every code must be the taxonomy's."""
    if not isinstance(codes, list) or not codes or not all(isinstance(code, str) and code for code in codes):
        raise EscalationConfigError(f"{where}: 'subtypes' must be a non-empty list of subtype codes")
    for code in codes:
        if code not in taxonomy.subtypes:
            known = ", ".join(taxonomy.subtypes)
            raise EscalationConfigError(f"{where}: subtype {code!r} is not in the taxonomy (one of {known})")
    return {code: taxonomy.subtypes[code].name for code in codes}


def _head_tiers(raw: dict[str, Any], taxonomy: Taxonomy, source: str) -> list[str]:
    """`head_at_intake`: a list (perhaps empty) of distinct tier codes of the taxonomy."""
    if "head_at_intake" not in raw:
        raise EscalationConfigError(
            f"{source}: missing 'head_at_intake' (the tiers escalated to the department head when filed, "
            "such as [P1]; [] for none)"
        )
    codes = raw["head_at_intake"]
    if not isinstance(codes, list):
        raise EscalationConfigError(f"{source}: 'head_at_intake' must be a list of tier codes, got {codes!r}")
    for index, code in enumerate(codes):
        if not isinstance(code, str) or code not in taxonomy.tiers:
            raise EscalationConfigError(
                f"{source}, head_at_intake[{index}]: tier {code!r} is not one of {', '.join(taxonomy.tiers)}"
            )
        if code in codes[:index]:
            raise EscalationConfigError(f"{source}, head_at_intake[{index}]: tier {code!r} is listed twice")
    return [str(code) for code in codes]


def _contacts(raw: dict[str, Any], taxonomy: Taxonomy, source: str) -> dict[str, Contacts]:
    """`contacts`: departments of the taxonomy (by name or code) → their supervisor and head."""
    entries = raw.get("contacts")
    if entries is None:
        return {}
    if not isinstance(entries, dict):
        raise EscalationConfigError(f"{source}: 'contacts' must map departments to their supervisor and head")
    codes = {name: code for code, name in taxonomy.departments.items()} | {code: code for code in taxonomy.departments}
    found: dict[str, Contacts] = {}
    for key, entry in entries.items():
        where = f"{source}, contacts.{key}"
        code = codes.get(str(key))
        if code is None:
            known = ", ".join(f"{name} ({code})" for code, name in taxonomy.departments.items())
            raise EscalationConfigError(f"{where}: {str(key)!r} is not a department of the taxonomy (one of {known})")
        if code in found:
            raise EscalationConfigError(f"{where}: department {code!r} is given twice (by its name and its code)")
        if not isinstance(entry, dict):
            raise EscalationConfigError(f"{where}: expected a mapping with 'supervisor' and/or 'head'")
        for name, value in entry.items():
            if name not in CONTACT_KEYS:
                raise EscalationConfigError(f"{where}: unknown key {str(name)!r} (expected supervisor, head)")
            if not isinstance(value, str | int) or isinstance(value, bool) or not str(value).strip():
                raise EscalationConfigError(f"{where}.{name}: expected a name or id, got {value!r}")
        found[code] = Contacts(
            **{name: str(entry[name]).strip() for name in CONTACT_KEYS if entry.get(name) is not None}
        )
    return found


def _field(entry: Any, key: str, where: str) -> Any:
    if not isinstance(entry, dict) or entry.get(key) in (None, ""):
        raise EscalationConfigError(f"{where}: missing '{key}'")
    return entry[key]


def _number(entry: dict[str, Any], key: str, where: str, low: float, high: float) -> float:
    value = _field(entry, key, where)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise EscalationConfigError(f"{where}: '{key}' must be a number from {low} to {high}, got {value!r}")
    return float(value)


def parse_policy(raw: Any, taxonomy: Taxonomy, source: str = "<escalation>") -> EscalationPolicy:
    """Build and check the policy from parsed YAML; tiers and subtypes must exist in `taxonomy`."""
    if not isinstance(raw, dict):
        raise EscalationConfigError(f"{source}: expected a mapping at the top level")
    try:
        negation = re.compile(str(_field(raw, "negation", source)))
    except re.error as error:
        raise EscalationConfigError(f"{source}: bad 'negation' pattern: {error}") from None
    emotion = _field(raw, "emotion", source)
    where = f"{source}, emotion"
    features = []
    raw_features = _field(emotion, "features", where)
    if not isinstance(raw_features, list):
        raise EscalationConfigError(f"{where}: 'features' must be a list")
    for index, entry in enumerate(raw_features):
        feature_where = f"{where}.features[{index}]"
        features.append(
            EmotionFeature(
                str(_field(entry, "code", feature_where)),
                str(_field(entry, "name", feature_where)),
                _number(entry, "weight", feature_where, 0, 10),
                int(_number(entry, "cap", feature_where, 1, 100)),
                _compile(entry.get("patterns"), feature_where),
            )
        )
    rules = []
    raw_rules = _field(raw, "rules", source)
    if not isinstance(raw_rules, list):
        raise EscalationConfigError(f"{source}: 'rules' must be a list")
    codes: set[str] = set()
    for index, entry in enumerate(raw_rules):
        rule_where = f"{source}, rules[{index}]"
        code = str(_field(entry, "code", rule_where))
        if code in codes:
            raise EscalationConfigError(f"{rule_where}: duplicate rule code {code!r}")
        codes.add(code)
        tier = str(_field(entry, "tier", rule_where))
        if tier not in taxonomy.tiers:
            raise EscalationConfigError(f"{rule_where}: tier {tier!r} is not one of {', '.join(taxonomy.tiers)}")
        kinds = [kind for kind in RULE_KINDS if kind in entry]
        if len(kinds) != 1:
            given = " and ".join(f"'{kind}'" for kind in kinds) or "none of them"
            raise EscalationConfigError(
                f"{rule_where}: give exactly one of 'patterns', 'min_emotion' or 'subtypes' (the rule has {given})"
            )
        rules.append(
            EscalationRule(
                code,
                str(_field(entry, "name", rule_where)),
                tier,
                _compile(entry["patterns"], rule_where) if "patterns" in entry else None,
                int(_number(entry, "min_emotion", rule_where, 0, 100)) if "min_emotion" in entry else None,
                _subtypes(entry["subtypes"], taxonomy, rule_where) if "subtypes" in entry else None,
            )
        )
    return EscalationPolicy(
        negation=negation,
        features=features,
        top_tier_weight=_number(emotion, "p_top_tier_weight", where, 0, 10),
        risk_threshold=int(_number(emotion, "risk_threshold", where, 0, 100)),
        rules=rules,
        head_at_intake=_head_tiers(raw, taxonomy, source),
        contacts=_contacts(raw, taxonomy, source),
        source=source,
    )


def load_policy(path: Path, taxonomy: Taxonomy) -> EscalationPolicy:
    """Read and check the escalation file."""
    return parse_policy(read_yaml(path, "escalation rules", EscalationConfigError), taxonomy, str(path))
