"""The ``rollout`` section: how a candidate reaches production and how each step is judged."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from conveyor.spec.base import SpecSection, WebhookSpec, http_urls


class AnalysisSpec(SpecSection):
    """How a rollout judges the candidate against the champion at each step."""

    alpha: float = Field(
        default=0.05, gt=0, lt=1, description="Significance level of each one-sided test."
    )
    max_error_rate_increase: float = Field(
        default=0.01, ge=0, le=1, description="Candidate error share above the champion's by this."
    )
    max_latency_p99_ratio: float = Field(
        default=1.5, gt=0, description="Candidate p99 latency over the champion's, at most."
    )
    min_agreement: float = Field(
        default=0.9, ge=0, le=1, description="Share of paired requests with the same prediction."
    )
    agreement_tolerance: float = Field(
        default=0.05,
        ge=0,
        description="Regression: predictions agree within this share of the champion's spread.",
    )
    max_prediction_psi: float = Field(
        default=0.2, ge=0, description="PSI of candidate predictions vs the champion's, at most."
    )
    max_input_psi: float = Field(
        default=0.2, ge=0, description="PSI of a feature between the arms' inputs, at most."
    )
    min_accuracy: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Classification: the candidate fails when its online accuracy is surely "
        "below this (an absolute floor beside the drop against the champion); unset: no floor.",
        examples=[0.7],
    )
    max_accuracy_drop: float = Field(
        default=0.02,
        ge=0,
        le=1,
        description="Online accuracy below the champion's by this (regression: RMSE above by "
        "this share).",
    )
    min_label_coverage: float = Field(
        default=0.1, ge=0, le=1, description="Share of predictions with feedback before judging."
    )
    min_requests: int = Field(default=200, ge=1, description="Requests per arm before judging.")
    min_pairs: int = Field(default=200, ge=1, description="Paired requests before judging.")
    min_labels: int = Field(default=100, ge=1, description="Labelled rows per arm before judging.")
    require_labels: bool = Field(
        default=False,
        description="Wait for enough feedback before passing a step; false judges online "
        "accuracy only once labels arrive.",
    )
    max_wait_seconds: float = Field(
        default=1800.0,
        ge=0,
        description="How long past the step's end an inconclusive analysis may wait.",
    )
    on_inconclusive: Literal["rollback", "pause", "proceed"] = Field(
        default="pause",
        description="After max_wait_seconds: pause for a person (lack of evidence is not "
        "evidence against the candidate), roll back, or go on.",
    )


class ABSpec(SpecSection):
    """A fixed split of traffic, each key (a user, a session) always on the same arm."""

    split: float = Field(default=50.0, gt=0, lt=100, description="Candidate share in percent.")
    sticky_key: str = Field(
        default="header:X-User",
        description="Where the key is read: header:<Name> or field:<input column>.",
    )

    @field_validator("sticky_key")
    @classmethod
    def _key(cls, value: str) -> str:
        source, _, name = value.partition(":")
        if source not in ("header", "field") or not name.strip() or name != name.strip():
            raise ValueError(f"{value!r}: use header:<Name> (e.g. header:X-User) or field:<column>")
        return value


# the names of ``rollout.strategies.default_strategies()``, for reading a file with no process's
# strategy registry at hand (a test keeps the two equal)
BUILT_IN_STRATEGIES = ("canary", "blue_green", "shadow", "ab")


class RolloutSpec(SpecSection):
    """How a candidate version reaches production: strategy, steps, analysis, notifications."""

    strategy: str = Field(
        default="canary",
        description="canary: growing traffic share; blue_green: one switch; shadow: the "
        "candidate sees copies and answers nobody; ab: a fixed sticky split.",
    )
    steps: list[float] = Field(
        default_factory=lambda: [5.0, 25.0, 50.0, 100.0],
        min_length=1,
        description="Canary: candidate traffic percent at each step, increasing.",
    )
    step_seconds: float = Field(
        default=300.0, gt=0, description="How long each step runs before its analysis."
    )
    assignment: Literal["request_id", "random"] = Field(
        default="request_id",
        description="Canary: pick the arm by a hash of the request id (retries stick) or at random.",
    )
    auto_promote: bool = Field(
        default=True, description="Promote when the last step passes; false waits for a person."
    )
    analysis: AnalysisSpec = Field(
        default_factory=AnalysisSpec, description="How each step judges the candidate."
    )
    ab: ABSpec = Field(default_factory=ABSpec, description="The split of the ab strategy.")
    webhooks: list[str | WebhookSpec] = Field(
        default_factory=list,
        description="http(s) URLs that receive rollout events, or {url, format: slack} for a "
        "Slack message.",
        examples=[["https://hooks.example.com/rollouts"]],
    )

    @field_validator("strategy")
    @classmethod
    def _known_strategy(cls, value: str, info: ValidationInfo) -> str:
        """A process's strategy registry decides which names are valid when validation is given
        it (``context={"strategies": registry}``: the CLI's flags, the admin endpoint). The spec
        sits below the rollout package and cannot ask it, so a file read alone is checked
        against the built-in names."""
        from conveyor.errors import ConveyorError

        strategies = (info.context or {}).get("strategies")
        if strategies is None:
            if value not in BUILT_IN_STRATEGIES:
                valid = ", ".join(sorted(BUILT_IN_STRATEGIES))
                raise ValueError(f"unknown rollout strategy {value!r}; use one of {valid}")
            return value
        try:
            strategies.get(value)
        except ConveyorError as exc:
            raise ValueError(exc.message) from None
        return value

    @field_validator("steps")
    @classmethod
    def _increasing(cls, value: list[float]) -> list[float]:
        for i, weight in enumerate(value):
            if not 0 < weight <= 100:
                raise ValueError(f"step {i + 1} ({weight:g}): a percent above 0 and at most 100")
            if i and weight <= value[i - 1]:
                raise ValueError(
                    f"step {i + 1} ({weight:g}): must send more traffic than the step before "
                    f"({value[i - 1]:g})"
                )
        return value

    _urls = field_validator("webhooks")(http_urls)
