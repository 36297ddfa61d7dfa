"""The taxonomy file: the default loads, an edited one is honoured, a broken one is refused clearly."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from model.errors import TaxonomyError
from model.taxonomy import DEFAULT_TAXONOMY, load_taxonomy, parse_taxonomy


def _raw() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load(DEFAULT_TAXONOMY.read_text(encoding="utf-8"))


def test_default_taxonomy_matches_the_labeling_guide() -> None:
    taxonomy = load_taxonomy()
    assert list(taxonomy.categories) == ["product", "service", "logistics", "after_sales", "other"]
    assert len(taxonomy.subtypes) == 17
    assert taxonomy.subtypes["not_as_described"].department == "ops"
    assert taxonomy.departments["logistics"] == "物流部"
    assert taxonomy.tiers["P1"].first_response_hours == 1
    assert taxonomy.tiers["P3"].resolution_hours == 72
    assert set(taxonomy.demands) == {"refund", "exchange", "repair", "apology", "compensation", "none"}


def test_an_added_subtype_and_renamed_department_are_read_from_the_file(tmp_path: Path) -> None:
    raw = _raw()
    raw["departments"]["logistics"] = "配送中心"
    raw["categories"][2]["subtypes"].append({"code": "lost_package", "name": "包裹丢失", "department": "logistics"})
    path = tmp_path / "taxonomy.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    taxonomy = load_taxonomy(path)
    assert taxonomy.subtypes["lost_package"].category == "logistics"
    assert taxonomy.departments["logistics"] == "配送中心"
    assert taxonomy.sha256 != load_taxonomy().sha256


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda raw: raw["categories"][0]["subtypes"][0].update(department="legal"), "department 'legal'"),
        (lambda raw: raw["categories"][1]["subtypes"].append(dict(raw["categories"][0]["subtypes"][0])), "duplicate"),
        (lambda raw: raw["tiers"][0].update(first_response_hours="soon"), "hours must be numbers"),
        (lambda raw: raw["tiers"][0].update(first_response_hours=30), "first_response_hours <= resolution_hours"),
        (lambda raw: raw["demands"].pop(), "'none' is required"),
        (lambda raw: raw["demands"][0].update(patterns=["(unclosed"]), "bad pattern"),
        (lambda raw: raw["categories"][0].pop("name"), "missing 'name'"),
        (lambda raw: raw["categories"][0].update(code="产品"), "ASCII identifier"),
        (lambda raw: raw["demands"][0].update(patterns="退款"), "must be a list of non-empty"),
        (lambda raw: raw["demands"][0].update(patterns=["退款", ""]), "must be a list of non-empty"),
        (lambda raw: raw["tiers"].append(dict(raw["tiers"][0])), "duplicate tier code"),
        (lambda raw: raw["demands"].append(dict(raw["demands"][0])), "duplicate demand code"),
        (lambda raw: raw.update(tiers=[]), "'tiers' must be a non-empty list"),
        (lambda raw: raw.update(tiers=5), "'tiers' must be a non-empty list"),
        (lambda raw: raw["categories"][0].update(subtypes=[]), "'subtypes' must be a non-empty list"),
        (lambda raw: raw["categories"][0]["subtypes"][0].update(department=["cs"]), "is not one of"),
        (lambda raw: raw["tiers"].append("P4"), "expected a mapping"),
    ],
)
def test_a_broken_taxonomy_is_refused_with_the_place_named(edit, message: str) -> None:  # type: ignore[no-untyped-def]
    raw = _raw()
    edit(raw)
    with pytest.raises(TaxonomyError, match=message) as error:
        parse_taxonomy(raw, "custom.yaml")
    assert "custom.yaml" in str(error.value)


def test_missing_and_unparsable_files_say_so(tmp_path: Path) -> None:
    with pytest.raises(TaxonomyError, match="not found"):
        load_taxonomy(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("categories: [unclosed", encoding="utf-8")
    with pytest.raises(TaxonomyError, match="not valid YAML"):
        load_taxonomy(bad)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda raw: raw.update(escalation={"late_delivery": "P2"}),
            "custom.yaml: unknown key 'escalation' "
            "(expected version, departments, categories, tiers, tier_cues, demands)",
        ),
        (
            lambda raw: raw["categories"][2].update(tier="P2"),
            "custom.yaml, categories[2]: unknown key 'tier' (expected code, name, subtypes)",
        ),
        (
            lambda raw: raw["categories"][2]["subtypes"][0].update(tier="P1"),
            "custom.yaml, categories[2].subtypes[0]: unknown key 'tier' (expected code, name, department); "
            "a subtype's tier is raised by a 'subtypes' rule of the escalation rules file",
        ),
        (
            lambda raw: raw["tiers"][1].update(first_reponse_hours=2),
            "custom.yaml, tiers[1]: unknown key 'first_reponse_hours' "
            "(expected code, name, first_response_hours, resolution_hours)",
        ),
        (
            lambda raw: raw["demands"][0].update(pattern=["退款"]),
            "custom.yaml, demands[0]: unknown key 'pattern' (expected code, name, patterns)",
        ),
        (
            lambda raw: raw["departments"].update(logistics={"name": "物流部", "tier": "P2"}),
            "custom.yaml, departments.logistics: the name must be a non-empty string",
        ),
        (
            lambda raw: raw["tier_cues"]["safety"].append({"word": "中毒", "tier": "P1"}),
            "custom.yaml, tier_cues.safety[17]: expected a word, got {'word': '中毒', 'tier': 'P1'}",
        ),
    ],
)
def test_an_unknown_key_is_refused_on_one_line_naming_file_entry_and_key(edit, message: str) -> None:  # type: ignore[no-untyped-def]
    """A key the taxonomy does not read (a typo, or a subtype's `tier`) is an error, not ignored."""
    raw = _raw()
    edit(raw)
    with pytest.raises(TaxonomyError) as error:
        parse_taxonomy(raw, "custom.yaml")
    assert str(error.value) == message


def test_an_unknown_key_in_the_file_names_the_file(tmp_path: Path) -> None:
    raw = _raw()
    raw["categories"][2]["subtypes"][0]["tier"] = "P1"
    path = tmp_path / "taxonomy.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(TaxonomyError, match=r"taxonomy\.yaml, categories\[2\]\.subtypes\[0\]: unknown key 'tier'"):
        load_taxonomy(path)
