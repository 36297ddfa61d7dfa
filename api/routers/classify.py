"""POST /v1/classify and /v1/classify/batch: the model's labels plus the service's judgement."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from api.deps import ClassifyUser, ModelDep, PolicyDep, ServicesDep, SettingsDep, ThresholdsDep
from api.errors import InvalidInput
from api.presenters import classify_result
from api.schemas import (
    BatchClassifyRequest,
    BatchItem,
    BatchResponse,
    ClassifyRequest,
    ClassifyResult,
    ItemError,
    error_responses,
    is_blank,
)
from api.services.scoring import assess
from api.settings import Settings
from api.validation import check_length
from model.text import without_surrogates

router = APIRouter(prefix="/v1/classify", tags=["classify"], responses=error_responses(401, 403, 413, 422, 503))


@router.post("", response_model=ClassifyResult, summary="Classify one complaint")
def classify(
    _: ClassifyUser,
    request: ClassifyRequest,
    loaded: ModelDep,
    policy: PolicyDep,
    thresholds: ThresholdsDep,
    settings: SettingsDep,
    services: ServicesDep,
) -> ClassifyResult:
    """Category, subtype, tier, department and demand with probabilities, explanation and review flag."""
    check_length(request.text, settings, ["body", "text"])
    assessment = assess(loaded.model, [request.text], policy=policy, thresholds=thresholds, explain=True)[0]
    services.metrics.observe_prediction(assessment.prediction)
    return classify_result(assessment, loaded.model.taxonomy)


def _item_error(index: int, value: Any, settings: Settings) -> tuple[str | None, ItemError | None]:
    loc: list[str | int] = ["body", "texts", index]
    if not isinstance(value, str):
        return None, ItemError(loc=loc, msg="expected a string", type="string_type")
    text = without_surrogates(value)
    if is_blank(text):
        return None, ItemError(
            loc=loc, msg="the text is empty or only whitespace or invisible characters", type="value_error"
        )
    if len(text) > settings.max_text_chars:
        return None, ItemError(
            loc=loc,
            msg=f"the text has {len(text)} characters; the limit is {settings.max_text_chars}",
            type="string_too_long",
        )
    return text, None


@router.post("/batch", response_model=BatchResponse, summary="Classify up to 1,000 complaints")
def classify_batch(
    _: ClassifyUser,
    request: BatchClassifyRequest,
    loaded: ModelDep,
    policy: PolicyDep,
    thresholds: ThresholdsDep,
    settings: SettingsDep,
    services: ServicesDep,
    explain: bool = Query(default=False, description="Include explanation terms (slower)."),
) -> BatchResponse:
    """Results in input order; an invalid item gets its own error and the others are classified."""
    if len(request.texts) > settings.max_batch_items:
        raise InvalidInput(
            f"{len(request.texts)} texts; at most {settings.max_batch_items} per batch",
            loc=["body", "texts"],
            type="too_long",
        )
    items: list[BatchItem] = []
    valid: list[tuple[int, str]] = []
    for index, value in enumerate(request.texts):
        text, error = _item_error(index, value, settings)
        if error is not None:
            items.append(BatchItem(index=index, error=error))
        elif text is not None:
            valid.append((index, text))
    assessments = assess(
        loaded.model, [text for _, text in valid], policy=policy, thresholds=thresholds, explain=explain
    )
    for (index, _text), assessment in zip(valid, assessments):
        services.metrics.observe_prediction(assessment.prediction)
        items.append(BatchItem(index=index, result=classify_result(assessment, loaded.model.taxonomy)))
    items.sort(key=lambda item: item.index)
    return BatchResponse(model_version=loaded.version, items=items)
