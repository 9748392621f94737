"""What every section of ``conveyor.yaml`` shares: strict models, the task, webhooks."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Task(StrEnum):
    """What the model predicts: a class label or a number."""

    CLASSIFICATION = "classification"
    REGRESSION = "regression"


class SpecSection(BaseModel):
    """A mapping of the project file: unknown keys are errors and a parsed spec never changes."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class WebhookSpec(SpecSection):
    """A webhook with the shape of its body: Conveyor's JSON event, or a Slack message."""

    url: str = Field(description="The http(s) URL events are POSTed to.")
    format: Literal["json", "slack"] = Field(
        default="json",
        description="json: the event as Conveyor's JSON (signed); slack: {text: ...} for a Slack "
        "incoming webhook (or any receiver of Slack's format: Mattermost, Rocket.Chat).",
    )


def http_urls(cls: type, value: list[str | WebhookSpec]) -> list[str | WebhookSpec]:
    """Webhook URLs must be http(s)."""
    for hook in value:
        url = hook if isinstance(hook, str) else hook.url
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"{url!r}: webhooks must be http(s) URLs")
    return value
