"""DVC-versioned data end to end, with a real git + DVC repository and a local remote: train
from a past revision with its lineage on the version, a fresh clone that pulls, and `dvc repro`
that retrains only when the data or the spec changed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import CliResult

pytestmark = pytest.mark.integration
pytest.importorskip("dvc.api", reason="DVC is an optional extra: pip install '.[dvc]'")

Cli = Callable[..., CliResult]
BIN = Path(sys.executable).parent

SPEC = """\
name: {name}
task: classification
data:
  source: {source}
  target: target
  seed: 7
model:
  estimator: sklearn.linear_model.LogisticRegression
  params: {{max_iter: 500}}
gates:
  min: {{accuracy: 0.7}}
"""


@dataclass
class DvcRepo:
    root: Path
    remote: Path
    env: dict[str, str]

    def sh(self, *args: str, cwd: Path | None = None, check: bool = True) -> str:
        done = subprocess.run(
            list(args),
            cwd=cwd or self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"{args} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done.stdout + done.stderr

    def commit(self, message: str, *paths: str) -> str:
        self.sh("git", "add", *paths)
        self.sh("git", "commit", "-qm", message)
        return self.sh("git", "rev-parse", "HEAD").strip()

    def md5(self, tracked: str) -> str:
        import yaml

        meta = yaml.safe_load((self.root / f"{tracked}.dvc").read_text())
        return str(meta["outs"][0]["md5"])


@pytest.fixture
def repo(tmp_path: Path, home: Path) -> DvcRepo:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "DVC_NO_ANALYTICS": "1",
        "GIT_AUTHOR_NAME": "ml",
        "GIT_AUTHOR_EMAIL": "ml@example.com",
        "GIT_COMMITTER_NAME": "ml",
        "GIT_COMMITTER_EMAIL": "ml@example.com",
    }
    found = DvcRepo(tmp_path / "repo", tmp_path / "remote", env)
    found.root.mkdir()
    found.sh("git", "init", "-q", "-b", "main")
    found.sh("dvc", "init", "-q")
    found.sh("dvc", "remote", "add", "-d", "store", str(found.remote))
    found.commit("dvc", ".dvc", ".dvcignore")
    return found


def write_wine(path: Path, rows: int) -> None:
    from sklearn.datasets import load_wine

    path.parent.mkdir(parents=True, exist_ok=True)
    load_wine(as_frame=True).frame.sample(frac=1.0, random_state=0).head(rows).to_csv(
        path, index=False
    )


def add_version(repo: DvcRepo, rows: int, tag: str) -> tuple[str, str]:
    write_wine(repo.root / "data" / "wine.csv", rows)
    repo.sh("dvc", "add", "-q", "data/wine.csv")
    commit = repo.commit(tag, "data/wine.csv.dvc", "data/.gitignore")
    repo.sh("dvc", "push", "-q")
    repo.sh("git", "tag", tag)
    return commit, repo.md5("data/wine.csv")


def test_train_from_a_past_revision_with_its_lineage(cli: Cli, repo: DvcRepo) -> None:
    v1_commit, v1_md5 = add_version(repo, 120, "v1")
    add_version(repo, 178, "v2")
    (repo.root / "conveyor.yaml").write_text(
        SPEC.format(name="wine_dvc", source="dvc://data/wine.csv@v1")
    )
    checked = cli("validate", "--project", str(repo.root), "--json")
    assert checked.exit_code == 0, checked.stderr
    assert checked.json()["rows"] == 120  # the tagged revision, not the workspace's 178

    run = cli("run", "--project", str(repo.root), "--json")
    assert run.exit_code == 0, run.stderr
    shown = cli("models", "show", "wine_dvc", "1", "--json").json()
    tags = shown["tags"]
    assert tags["conveyor.dvc.path"] == "data/wine.csv"
    assert tags["conveyor.dvc.rev"] == "v1"
    assert tags["conveyor.dvc.commit"] == v1_commit
    assert tags["conveyor.dvc.md5"] == v1_md5
    assert tags["conveyor.data_fingerprint"]  # next to the content fingerprint


def test_a_fresh_clone_reads_from_the_remote_and_pulls(
    cli: Cli, repo: DvcRepo, tmp_path: Path
) -> None:
    _, v1_md5 = add_version(repo, 150, "v1")
    (repo.root / "conveyor.yaml").write_text(
        SPEC.format(name="wine_clone", source="dvc://data/wine.csv")
    )
    repo.commit("spec", "conveyor.yaml")
    clone = tmp_path / "clone"
    repo.sh("git", "clone", "-q", str(repo.root), str(clone))
    assert not (clone / "data" / "wine.csv").exists()  # git holds only the .dvc pointer
    # DVC fetches the content from the default remote on read, without a pull
    checked = cli("validate", "--project", str(clone), "--json")
    assert checked.exit_code == 0, checked.stderr
    assert checked.json()["rows"] == 150
    repo.sh("dvc", "pull", "-q", cwd=clone)
    assert (clone / "data" / "wine.csv").exists()
    run = cli("run", "--project", str(clone), "--json")
    assert run.exit_code == 0, run.stderr
    tags = cli("models", "show", "wine_clone", "1", "--json").json()["tags"]
    assert tags["conveyor.dvc.md5"] == v1_md5
    assert "conveyor.dvc.rev" not in tags  # the workspace: the commit says which


def test_dvc_repro_retrains_only_when_data_or_spec_change(cli: Cli, repo: DvcRepo) -> None:
    add_version(repo, 130, "v1")
    (repo.root / "conveyor.yaml").write_text(SPEC.format(name="wine_repro", source="data/wine.csv"))
    made = cli("dvc", "init", "--project", str(repo.root), "--json")
    assert made.exit_code == 0, made.stderr
    assert made.json()["deps"] == ["conveyor.yaml", "data/wine.csv"]

    first = repo.sh("dvc", "repro")
    assert "Running stage 'validate'" in first and "Running stage 'train'" in first
    assert json.loads((repo.root / "run_info.json").read_text())["registered_version"] == "1"
    lock = (repo.root / "dvc.lock").read_text()
    assert repo.md5("data/wine.csv") in lock  # what version 1 was trained on

    again = repo.sh("dvc", "repro")
    assert "Running stage" not in again  # nothing changed: nothing reruns, nothing registers
    assert cli("models", "show", "wine_repro", "2", "--json").exit_code == 2

    write_wine(repo.root / "data" / "wine.csv", 178)
    repo.sh("dvc", "add", "-q", "data/wine.csv")
    third = repo.sh("dvc", "repro")
    assert "Running stage 'train'" in third
    assert json.loads((repo.root / "run_info.json").read_text())["registered_version"] == "2"


def test_dvc_errors_name_the_source(cli: Cli, repo: DvcRepo) -> None:
    add_version(repo, 120, "v1")
    for source, says in (
        ("dvc://data/nope.csv", "not found"),
        ("dvc://data/wine.csv@no-such-tag", "no-such-tag"),
        ("dvc://data/wine.xlsx", "unsupported file type"),
    ):
        (repo.root / "conveyor.yaml").write_text(SPEC.format(name="bad", source=source))
        result = cli("validate", "--project", str(repo.root))
        assert result.exit_code == 2, (source, result.stderr)
        assert source in result.stderr and says in result.stderr
        assert "Traceback" not in result.stderr


def test_dvc_init_outside_a_dvc_repository(cli: Cli, tmp_path: Path) -> None:
    project = tmp_path / "plain"
    project.mkdir()
    write_wine(project / "wine.csv", 100)
    (project / "conveyor.yaml").write_text(SPEC.format(name="plain", source="wine.csv"))
    result = cli("dvc", "init", "--project", str(project))
    assert result.exit_code == 2
    assert "not inside a DVC repository" in result.stderr
    assert not (project / "dvc.yaml").exists()


def pull_step() -> str:
    """The train workflow's DVC step, as the runner would execute it."""
    import yaml

    workflow = yaml.safe_load(
        (Path(__file__).parents[2] / ".github/workflows/train.yml").read_text()
    )
    [step] = [
        s for s in workflow["jobs"]["train"]["steps"] if s.get("name") == "Pull DVC-tracked data"
    ]
    return str(step["run"])


def test_the_workflow_pulls_from_the_remote_or_falls_back(repo: DvcRepo, tmp_path: Path) -> None:
    add_version(repo, 100, "v1")
    clone = tmp_path / "ci-checkout"
    repo.sh("git", "clone", "-q", str(repo.root), str(clone))
    repo.sh("bash", "-euo", "pipefail", "-c", pull_step(), cwd=clone)
    assert (clone / "data" / "wine.csv").exists()  # pulled from the default remote

    repo.sh("dvc", "remote", "remove", "store", cwd=clone)
    (clone / "data" / "wine.csv").unlink()
    said = repo.sh("bash", "-euo", "pipefail", "-c", pull_step(), cwd=clone)
    assert "no DVC remote configured" in said  # the fallback, and the step still succeeds
