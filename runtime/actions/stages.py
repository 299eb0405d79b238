"""Update Deal Stage: a stage given by name (or id) resolved through the account's pipelines
and stages, for one deal. Pure: the stages come loaded (`Pipedrive.load_stages`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from syncmap.runtime.candidates import DeadLetter


def resolve_stage(value: Any, stages: Sequence[Mapping[str, Any]], pipelines: Mapping[str, Mapping[str, Any]], deal_pipeline: Any) -> int:
    """The stage id `value` names for a deal in pipeline `deal_pipeline`. A name in several
    pipelines picks the deal's; a name nowhere, or in several pipelines but not the deal's, is a
    DeadLetter naming the stages that do exist."""
    text = str(value).strip()
    if text.isdigit():
        for stage in stages:
            if str(stage["id"]) == text:
                return int(stage["id"])
        raise DeadLetter(
            "stage_unknown", f"there is no stage with id {text} in this Pipedrive account; the stages are {_listing(stages, pipelines)}", stage=text
        )
    named = [s for s in stages if str(s.get("name", "")).strip().casefold() == text.casefold()]
    if not named:
        raise DeadLetter(
            "stage_unknown", f'there is no stage named "{text}" in this Pipedrive account; the stages are {_listing(stages, pipelines)}', stage=text
        )
    if len(named) == 1:
        return int(named[0]["id"])
    mine = [s for s in named if str(s.get("pipeline_id")) == str(deal_pipeline)]
    if len(mine) == 1:
        return int(mine[0]["id"])
    where = ", ".join(f'"{_pipeline(s, pipelines)}"' for s in named)
    raise DeadLetter(
        "stage_ambiguous",
        f'the stage "{text}" is in the pipelines {where}, and the deal is in none of them (pipeline {deal_pipeline}): name it by id',
        stage=text,
        stage_ids=[s["id"] for s in named],
    )


def _pipeline(stage: Mapping[str, Any], pipelines: Mapping[str, Mapping[str, Any]]) -> str:
    return str((pipelines.get(str(stage.get("pipeline_id"))) or {}).get("name") or f"pipeline {stage.get('pipeline_id')}")


def _listing(stages: Sequence[Mapping[str, Any]], pipelines: Mapping[str, Mapping[str, Any]]) -> str:
    if not stages:
        return "none (the account has no stages)"
    by_pipeline: dict[str, list[str]] = {}
    for stage in sorted(stages, key=lambda s: (s.get("pipeline_id") or 0, s.get("order_nr") or 0, s["id"])):
        by_pipeline.setdefault(_pipeline(stage, pipelines), []).append(f'"{stage.get("name")}"')
    return "; ".join(f"{', '.join(names)} (in {name})" for name, names in by_pipeline.items())
