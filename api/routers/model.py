"""GET /v1/model: the model in service, its metrics and taxonomy, thresholds and escalation rules."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import ModelDep, ModelReader, PolicyDep, ThresholdsDep
from api.schemas import ModelInfo, error_responses

router = APIRouter(prefix="/v1/model", tags=["model"], responses=error_responses(401, 403, 503))


@router.get("", response_model=ModelInfo, summary="The model in service")
def model_info(_: ModelReader, loaded: ModelDep, thresholds: ThresholdsDep, policy: PolicyDep) -> ModelInfo:
    """Version, held-out metrics and what they were measured on, training data, taxonomy, review
    thresholds, escalation rules."""
    metadata = loaded.metadata
    return ModelInfo(
        version=loaded.version,
        created_at=metadata.get("created_at"),
        loaded_at=loaded.loaded_at,
        metrics=metadata.get("metrics") or {},
        evaluation=metadata.get("evaluation") or {},
        training_data=metadata.get("training_data") or {},
        libraries=metadata.get("libraries") or {},
        params=loaded.model.describe(),
        taxonomy=loaded.model.taxonomy.to_dict(),
        thresholds=thresholds.to_dict(),
        escalation=policy.describe(),
    )
