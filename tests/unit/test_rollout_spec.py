"""The ``rollout:`` section of conveyor.yaml: defaults, strictness, errors that name the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from conveyor.errors import SpecError
from conveyor.spec import load_spec
from conveyor.spec.models import RolloutSpec

BASE = """\
name: wine
task: classification
data: {source: sklearn:wine, target: target}
model: {estimator: sklearn.linear_model.LogisticRegression}
"""


def load(tmp_path: Path, rollout: str) -> RolloutSpec:
    path = tmp_path / "conveyor.yaml"
    path.write_text(BASE + rollout)
    return load_spec(path).rollout


def problems(tmp_path: Path, rollout: str) -> dict[str, str]:
    with pytest.raises(SpecError) as err:
        load(tmp_path, rollout)
    return {p.where.split(" ")[0]: p.message for p in err.value.problems}


def test_defaults_are_a_canary_with_analysis(tmp_path: Path) -> None:
    spec = load(tmp_path, "")
    assert spec.strategy == "canary"
    assert spec.steps == [5, 25, 50, 100]
    assert spec.step_seconds == 300
    assert spec.auto_promote is True
    assert spec.analysis.min_requests == 200
    assert spec.analysis.on_inconclusive == "pause"  # too little evidence never fails a version
    assert spec.analysis.require_labels is False
    assert spec.ab.split == 50
    assert spec.ab.sticky_key == "header:X-User"
    assert spec.webhooks == []


def test_a_full_section_is_read(tmp_path: Path) -> None:
    spec = load(
        tmp_path,
        "rollout:\n"
        "  strategy: ab\n"
        "  step_seconds: 60\n"
        "  ab: {split: 20, sticky_key: 'field:user_id'}\n"
        "  analysis: {min_requests: 50, max_wait_seconds: 0, on_inconclusive: rollback}\n"
        "  webhooks: [https://hooks.example/rollouts]\n",
    )
    assert spec.strategy == "ab"
    assert spec.ab.split == 20
    assert spec.ab.sticky_key == "field:user_id"
    assert spec.analysis.min_requests == 50
    assert spec.analysis.on_inconclusive == "rollback"


def test_unknown_keys_are_errors(tmp_path: Path) -> None:
    found = problems(tmp_path, "rollout:\n  stratgy: canary\n  analysis: {min_request: 5}\n")
    assert found["rollout.stratgy"].startswith("unknown key; did you mean `strategy`?")
    assert found["rollout.analysis.min_request"].startswith(
        "unknown key; did you mean `min_requests`?"
    )


def test_unknown_strategy_lists_the_valid_ones(tmp_path: Path) -> None:
    found = problems(tmp_path, "rollout: {strategy: linear}\n")
    assert "canary" in found["rollout.strategy"]
    assert "blue_green" in found["rollout.strategy"]


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ("[5, 5, 50]", "step 2 (5): must send more traffic than the step before (5)"),
        ("[50, 25]", "step 2 (25): must send more traffic than the step before (50)"),
        ("[0, 50]", "step 1 (0): a percent above 0 and at most 100"),
        ("[10, 150]", "step 2 (150): a percent above 0 and at most 100"),
    ],
)
def test_steps_must_increase_within_0_and_100(tmp_path: Path, steps: str, message: str) -> None:
    assert problems(tmp_path, f"rollout: {{steps: {steps}}}\n")["rollout.steps"] == message


def test_empty_steps_are_refused(tmp_path: Path) -> None:
    assert "rollout.steps" in problems(tmp_path, "rollout: {steps: []}\n")


@pytest.mark.parametrize("key", ["cookie:id", "header:", "user_id", "field: x"])
def test_sticky_key_names_its_source(tmp_path: Path, key: str) -> None:
    message = problems(tmp_path, f"rollout: {{ab: {{sticky_key: '{key}'}}}}\n")[
        "rollout.ab.sticky_key"
    ]
    assert "header:<Name>" in message


@pytest.mark.parametrize(
    ("section", "where"),
    [
        ("{ab: {split: 100}}", "rollout.ab.split"),
        ("{step_seconds: 0}", "rollout.step_seconds"),
        ("{analysis: {min_agreement: 1.5}}", "rollout.analysis.min_agreement"),
        ("{analysis: {alpha: 0}}", "rollout.analysis.alpha"),
        ("{analysis: {min_pairs: 0}}", "rollout.analysis.min_pairs"),
        ("{analysis: {on_inconclusive: retry}}", "rollout.analysis.on_inconclusive"),
        ("{webhooks: [ftp://x]}", "rollout.webhooks"),
    ],
)
def test_bad_values_name_their_field(tmp_path: Path, section: str, where: str) -> None:
    assert where in problems(tmp_path, f"rollout: {section}\n")
