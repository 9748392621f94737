"""The README's "Versioned data (DVC)" commands, run as written in a real git + DVC repository
with a local remote: the data added, tagged and pushed, a version trained from `dvc://...@v1`,
a second from `dvc repro`, the first promoted and served, a request, `conveyor monitor`, and a
canary rollout of the second promoted on both arms' traffic; each version names its data
revision."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.integration.procs import Processes
from tests.integration.readme import Block, random_rows, readme_block

pytestmark = pytest.mark.integration
pytest.importorskip("dvc.api", reason="DVC is an optional extra: pip install '.[dvc]'")
BIN = Path(sys.executable).parent
SPEC = """\
name: wine
task: classification
data:
  source: dvc://data/train.csv@v1
  target: target
model:
  estimator: sklearn.linear_model.LogisticRegression
  params: {max_iter: 2000}
"""


def test_the_dvc_commands_go_from_versioned_data_to_a_rollout(tmp_path: Path) -> None:
    from sklearn.datasets import load_wine

    root, remote = tmp_path / "repo", tmp_path / "remote"
    (root / "data").mkdir(parents=True)
    frame = load_wine(as_frame=True).frame
    frame.to_csv(root / "data" / "train.csv", index=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONVEYOR_", "MLFLOW_"))}
    env |= {
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "CONVEYOR_HOME": str(tmp_path / "home"),
        "DVC_NO_ANALYTICS": "1",
        "GIT_AUTHOR_NAME": "ml", "GIT_AUTHOR_EMAIL": "ml@example.com",
        "GIT_COMMITTER_NAME": "ml", "GIT_COMMITTER_EMAIL": "ml@example.com",
    }  # fmt: skip
    block = Block(root, env, Processes())
    for setup in (
        "git init -q -b main",
        "dvc init -q",
        f"dvc remote add -d store {remote}",
        "git add .dvc .dvcignore && git commit -qm dvc",
    ):
        block.run(setup)

    commands = readme_block("Versioned data (DVC)")
    assert commands[0].startswith("pip install") and len(commands) >= 10, commands
    features = [c for c in frame.columns if c != "target"]
    rows = frame[features].to_dict(orient="records")
    try:
        for command in commands[1:]:
            if command.startswith("conveyor run"):
                (root / "conveyor.yaml").write_text(SPEC)  # the line the README shows as a comment
            block.run(command, traffic=random_rows(rows))
        assert block.answers[0]["model"]["version"] == "1", block.answers
        deadline = time.monotonic() + 60
        while httpx.get(f"{block.url}/model/info", timeout=10).json()["version"] != "2":
            assert time.monotonic() < deadline, "the server did not follow the promotion"
            time.sleep(0.5)
    finally:
        block.procs.stop_all()
    conveyor = str(BIN / "conveyor")
    for version in ("1", "2"):
        shown = block._bash(f"{conveyor} models show wine {version} --json")
        tags = json.loads(shown)["tags"]
        assert (tags["conveyor.dvc.path"], tags["conveyor.dvc.rev"]) == ("data/train.csv", "v1")
