"""The complaint taxonomy: categories, subtypes, departments, tiers and demands, from YAML."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from model.errors import TaxonomyError

DEFAULT_TAXONOMY = Path(__file__).resolve().parent.parent / "data" / "taxonomy.yaml"


@dataclass(frozen=True)
class Subtype:
    """A subtype (子类) and the department responsible for it."""

    code: str
    name: str
    category: str
    department: str


@dataclass(frozen=True)
class Category:
    """A top-level category (类别) with its subtypes, in file order."""

    code: str
    name: str
    subtypes: tuple[str, ...]


@dataclass(frozen=True)
class Tier:
    """An urgency tier (级别) with its SLA in hours."""

    code: str
    name: str
    first_response_hours: float
    resolution_hours: float


@dataclass(frozen=True)
class Demand:
    """A customer demand (诉求) and the regular expressions that detect it."""

    code: str
    name: str
    patterns: tuple[str, ...] = ()


@dataclass(frozen=True)
class Taxonomy:
    """The whole taxonomy; look-ups by code raise `TaxonomyError` naming the unknown code."""

    departments: dict[str, str]
    categories: dict[str, Category]
    subtypes: dict[str, Subtype]
    tiers: dict[str, Tier]
    demands: dict[str, Demand]
    tier_cues: dict[str, tuple[str, ...]] = field(default_factory=dict)
    source: str = field(default="", compare=False)

    @cached_property
    def sha256(self) -> str:
        """Hash of the content (not the file layout): a model trained on another one is refused."""
        content = {
            "departments": self.departments,
            "categories": {k: asdict(v) for k, v in self.categories.items()},
            "subtypes": {k: asdict(v) for k, v in self.subtypes.items()},
            "tiers": {k: asdict(v) for k, v in self.tiers.items()},
            "demands": {k: asdict(v) for k, v in self.demands.items()},
            "tier_cues": {k: list(v) for k, v in self.tier_cues.items()},
        }
        encoded = json.dumps(content, sort_keys=True, ensure_ascii=False).encode("utf-8")
        return hashlib.sha256(encoded).hexdigest()

    def department_of(self, subtype: str) -> str:
        """Department code responsible for a subtype."""
        return self.subtypes[subtype].department

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view (used by the API's model endpoint)."""
        return {
            "departments": self.departments,
            "categories": [
                {
                    "code": category.code,
                    "name": category.name,
                    "subtypes": [asdict(self.subtypes[code]) for code in category.subtypes],
                }
                for category in self.categories.values()
            ],
            "tiers": [asdict(tier) for tier in self.tiers.values()],
            "demands": [{"code": d.code, "name": d.name} for d in self.demands.values()],
        }


def _require(mapping: Any, key: str, where: str) -> Any:
    if not isinstance(mapping, dict) or key not in mapping or mapping[key] in (None, ""):
        raise TaxonomyError(f"{where}: missing '{key}'")
    return mapping[key]


def _entries(mapping: Any, key: str, where: str) -> list[Any]:
    """A required, non-empty list of mappings."""
    value = _require(mapping, key, where)
    if not isinstance(value, list) or not value:
        raise TaxonomyError(f"{where}: '{key}' must be a non-empty list")
    for index, entry in enumerate(value):
        if not isinstance(entry, dict):
            raise TaxonomyError(f"{where}, {key}[{index}]: expected a mapping with code and name")
    return value


TOP_LEVEL_KEYS = ("version", "departments", "categories", "tiers", "tier_cues", "demands")
CATEGORY_KEYS = ("code", "name", "subtypes")
SUBTYPE_KEYS = ("code", "name", "department")
TIER_KEYS = ("code", "name", "first_response_hours", "resolution_hours")
DEMAND_KEYS = ("code", "name", "patterns")
SUBTYPE_HINT = "; a subtype's tier is raised by a 'subtypes' rule of the escalation rules file"


def _known_keys(entry: dict[Any, Any], allowed: tuple[str, ...], where: str, hint: str = "") -> None:
    """Refuse a key the taxonomy does not read (a typo or a setting put in the wrong file)."""
    for key in entry:
        if key not in allowed:
            raise TaxonomyError(f"{where}: unknown key '{key}' (expected {', '.join(allowed)}){hint}")


def _code(value: Any, where: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", value):
        raise TaxonomyError(f"{where}: code {value!r} must be an ASCII identifier")
    return value


def parse_taxonomy(raw: Any, source: str = "<taxonomy>") -> Taxonomy:
    """Build and check a taxonomy from parsed YAML; errors name the file and the entry."""
    if not isinstance(raw, dict):
        raise TaxonomyError(f"{source}: expected a mapping at the top level")
    _known_keys(raw, TOP_LEVEL_KEYS, source)
    departments_raw = _require(raw, "departments", source)
    if not isinstance(departments_raw, dict):
        raise TaxonomyError(f"{source}: 'departments' must map codes to names")
    departments = {}
    for key, value in departments_raw.items():
        department = _code(key, f"{source}, departments")
        if not isinstance(value, str) or not value:
            raise TaxonomyError(f"{source}, departments.{department}: the name must be a non-empty string")
        departments[department] = value

    categories: dict[str, Category] = {}
    subtypes: dict[str, Subtype] = {}
    for index, entry in enumerate(_entries(raw, "categories", source)):
        where = f"{source}, categories[{index}]"
        _known_keys(entry, CATEGORY_KEYS, where)
        code = _code(_require(entry, "code", where), where)
        if code in categories:
            raise TaxonomyError(f"{where}: duplicate category code '{code}'")
        codes = []
        for sub_index, sub in enumerate(_entries(entry, "subtypes", where)):
            sub_where = f"{where}.subtypes[{sub_index}]"
            _known_keys(sub, SUBTYPE_KEYS, sub_where, SUBTYPE_HINT)
            sub_code = _code(_require(sub, "code", sub_where), sub_where)
            if sub_code in subtypes:
                raise TaxonomyError(f"{sub_where}: duplicate subtype code '{sub_code}'")
            department = _require(sub, "department", sub_where)
            if not isinstance(department, str) or department not in departments:
                raise TaxonomyError(f"{sub_where}: department '{department}' is not one of {sorted(departments)}")
            subtypes[sub_code] = Subtype(sub_code, str(_require(sub, "name", sub_where)), code, department)
            codes.append(sub_code)
        categories[code] = Category(code, str(_require(entry, "name", where)), tuple(codes))

    tiers: dict[str, Tier] = {}
    for index, entry in enumerate(_entries(raw, "tiers", source)):
        where = f"{source}, tiers[{index}]"
        _known_keys(entry, TIER_KEYS, where)
        code = _code(_require(entry, "code", where), where)
        if code in tiers:
            raise TaxonomyError(f"{where}: duplicate tier code '{code}'")
        try:
            first = float(_require(entry, "first_response_hours", where))
            resolution = float(_require(entry, "resolution_hours", where))
        except (TypeError, ValueError) as error:
            raise TaxonomyError(f"{where}: hours must be numbers ({error})") from None
        if not 0 < first <= resolution:
            raise TaxonomyError(f"{where}: need 0 < first_response_hours <= resolution_hours")
        tiers[code] = Tier(code, str(_require(entry, "name", where)), first, resolution)

    demands: dict[str, Demand] = {}
    for index, entry in enumerate(_entries(raw, "demands", source)):
        where = f"{source}, demands[{index}]"
        _known_keys(entry, DEMAND_KEYS, where)
        code = _code(_require(entry, "code", where), where)
        if code in demands:
            raise TaxonomyError(f"{where}: duplicate demand code '{code}'")
        raw_patterns = entry.get("patterns") or []
        if not isinstance(raw_patterns, list) or not all(isinstance(p, str) and p for p in raw_patterns):
            raise TaxonomyError(f"{where}: 'patterns' must be a list of non-empty regular expressions")
        patterns = tuple(raw_patterns)
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as error:
                raise TaxonomyError(f"{where}: bad pattern {pattern!r}: {error}") from None
        demands[code] = Demand(code, str(_require(entry, "name", where)), patterns)
    if "none" not in demands:
        raise TaxonomyError(f"{source}, demands: a demand with code 'none' is required")
    cues_raw = raw.get("tier_cues") or {}
    if not isinstance(cues_raw, dict) or not all(isinstance(v, list) for v in cues_raw.values()):
        raise TaxonomyError(f"{source}, tier_cues: expected a mapping of group name to a list of words")
    for name, words in cues_raw.items():
        for word_index, word in enumerate(words):
            if isinstance(word, bool) or not isinstance(word, str | int):
                raise TaxonomyError(f"{source}, tier_cues.{name}[{word_index}]: expected a word, got {word!r}")
    tier_cues = {str(name): tuple(str(word) for word in words if str(word)) for name, words in cues_raw.items()}
    return Taxonomy(departments, categories, subtypes, tiers, demands, tier_cues, source)


def read_yaml(path: Path, what: str, error: type[Exception]) -> Any:
    """The content of a YAML configuration file; a missing or unreadable file raises `error`
    naming the file and `what` it should hold."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{path}: {what} file not found") from None
    except IsADirectoryError:
        raise error(f"{path}: a folder; give the {what} file") from None
    except OSError as problem:
        raise error(f"{path}: cannot read the {what} file ({problem.strerror})") from None
    except (yaml.YAMLError, UnicodeDecodeError) as problem:
        detail = " ".join(str(problem).split())  # one line: YAML's messages span several
        raise error(f"{path}: not valid YAML: {detail}") from None


def load_taxonomy(path: Path = DEFAULT_TAXONOMY) -> Taxonomy:
    """Read a taxonomy YAML file."""
    return parse_taxonomy(read_yaml(path, "taxonomy", TaxonomyError), str(path))
