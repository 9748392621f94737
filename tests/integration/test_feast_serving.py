"""Serving from entity keys, for real: the drivers example trained from its Feast repository,
materialized with `conveyor feast materialize` into the online store (SQLite; Redis on
127.0.0.1:6379 for the second server), and served by `conveyor serve` from the Feast venv.
Requests carrying only `driver_id` are answered as the same rows with their features given;
unknown entities and bad keys are named per row; the log keeps keys and values; a stale online
store shows on /metrics until materialized again. The same version served by a server without
Feast answers rows that carry their features identically."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.feastkit import CONVEYOR, FEAST_BIN, feast_env, run
from tests.integration.feastkit import needs_feast as needs_feast
from tests.integration.procs import CONVEYOR as PLAIN_CONVEYOR
from tests.integration.procs import Processes
from tests.integration.readme import Block, random_rows, readme_block, wait_ready
from tests.serving.conftest import free_port

pytestmark = [pytest.mark.integration, needs_feast]
FEATURES = ["conv_rate", "acc_rate", "avg_daily_trips"]
MAX_AGE = 6.0  # seconds: the project's online store is stale soon after each materialization
ONLINE = """
import json, sys
from feast import FeatureStore
store = FeatureStore(repo_path=sys.argv[1])
rows = [{"driver_id": int(d)} for d in sys.argv[2].split(",")]
found = store.get_online_features(
    features=[f"driver_hourly_stats:{f}" for f in ("conv_rate", "acc_rate", "avg_daily_trips")],
    entity_rows=rows,
).to_dict()
print(json.dumps(found))
"""


@dataclass
class Served:
    project: Path
    env: dict[str, str]
    url: str
    procs: Processes
    online: dict[int, dict[str, Any]]  # each driver's values in the online store, read by Feast
    rest: list[str]  # the README's commands after the first request
    block: Block  # runs them where the first ones left off

    def predict(self, body: dict[str, Any], url: str | None = None) -> httpx.Response:
        return httpx.post(f"{url or self.url}/predict", json=body, timeout=30)

    def metric(self, name: str, view: str = "driver_hourly_stats") -> float:
        text = httpx.get(f"{self.url}/metrics", timeout=10).text
        found = re.search(rf'^{name}{{model="drivers",view="{view}"}} (\S+)$', text, re.M)
        assert found, f"{name} not on /metrics"
        return float(found.group(1))


def serve(
    procs: Processes, args: list[str], env: dict[str, str], cwd: Path
) -> tuple[str, subprocess.Popen[str]]:
    port = free_port()
    server = procs.start([*args, "--port", str(port)], env, cwd)
    url = f"http://127.0.0.1:{port}"
    wait_ready(server, url, " ".join(args))
    return url, server


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The README's "Features from Feast" commands up to the server and its first request,
    run as written (the project's max_age_seconds shortened, so a test can see it pass)."""
    root = tmp_path_factory.mktemp("feast-serving")
    env = feast_env(root / "home") | {"CONVEYOR_FEATURE_AGE_CHECK_SECONDS": "0.5"}
    commands = readme_block("Features from Feast")
    assert commands[0].startswith("pip install") and len(commands) >= 12, commands
    block = Block(root, env, Processes())
    try:
        for command in commands[1:]:
            if command.startswith("conveyor run"):
                spec = block.cwd / "conveyor.yaml"
                spec.write_text(
                    spec.read_text().replace(
                        "    timestamp: event_timestamp\n",
                        f"    timestamp: event_timestamp\n    max_age_seconds: {MAX_AGE}\n",
                    )
                )
            block.run(command)
            if command.startswith("curl "):
                break
        answer = block.answers[0]
        assert answer["model"]["version"] == "1" and len(answer["predictions"]) == 2, answer
        online = online_values(block.cwd / "feature_repo", env, list(range(1001, 1051)))
        rest = commands[commands.index(command) + 1 :]
        yield Served(block.cwd, env, block.url, block.procs, online, rest, block)
    finally:
        block.procs.stop_all()


def online_values(repo: Path, env: dict[str, str], drivers: list[int]) -> dict[int, dict[str, Any]]:
    """The online store's values for ``drivers``, read with Feast directly."""
    out = run(
        [str(FEAST_BIN / "python"), "-c", ONLINE, str(repo), ",".join(map(str, drivers))],
        repo,
        env,
    )
    found = json.loads(out.strip().splitlines()[-1])
    return {d: {f: found[f][i] for f in FEATURES} for i, d in enumerate(drivers)}


def test_the_version_names_the_features_it_was_trained_on(served: Served) -> None:
    """Lineage: the repository, the feature references, each view with its definition's
    digest; every label found its features (no warning); a feature the view lacks stops
    `conveyor run` with the key named."""
    info = json.loads((served.project / "run_info.json").read_text())
    assert info["registered_version"] == "1" and info["metrics"]["accuracy"] > 0.8
    assert info["runtime"] == "onnx" and info["warnings"] == []
    shown = run([CONVEYOR, "models", "show", "drivers", "1", "--json"], served.project, served.env)
    tags = json.loads(shown)["tags"]
    assert tags["conveyor.feast.repo"] == "feature_repo"
    assert tags["conveyor.feast.features"].split(",") == [
        f"driver_hourly_stats:{f}" for f in FEATURES
    ]
    view, _, digest = tags["conveyor.feast.views"].partition("@")
    assert view == "driver_hourly_stats" and len(digest) == 12

    bad = served.project / "bad.yaml"
    bad.write_text(
        (served.project / "conveyor.yaml")
        .read_text()
        .replace("driver_hourly_stats:avg_daily_trips", "driver_hourly_stats:no_such_feature")
    )
    refused = run([CONVEYOR, "run", "-p", str(bad)], served.project, served.env, code=2)
    assert "data.feast.features" in refused and "Traceback" not in refused


def test_entity_keys_answer_as_their_features_do(served: Served) -> None:
    drivers = [1001, 1002, 1017, 1049]
    values = [served.online[d] for d in drivers]
    assert all(v["conv_rate"] is not None for v in values)
    by_key = served.predict({"instances": [{"driver_id": d} for d in drivers]})
    by_value = served.predict({"instances": values})
    assert by_key.status_code == by_value.status_code == 200, by_key.text
    keyed, valued = by_key.json(), by_value.json()
    assert keyed["predictions"] == valued["predictions"]
    assert keyed["probabilities"] == valued["probabilities"]
    # MLflow's scoring protocol: named rows may give keys too
    records = {"dataframe_records": [{"driver_id": d} for d in drivers]}
    invoked = httpx.post(f"{served.url}/invocations", json=records, timeout=30)
    assert invoked.json() == {"predictions": keyed["predictions"]}
    # a value the row gives wins over the store's; one object is one row
    mixed = served.predict({"driver_id": 1002, "conv_rate": 0.05}).json()
    given = served.predict({"instances": [values[1] | {"conv_rate": 0.05}]}).json()
    assert mixed["probabilities"] == given["probabilities"] != [valued["probabilities"][1]]

    info = httpx.get(f"{served.url}/model/info", timeout=10).json()["online_features"]
    assert info["entity_keys"] == {"driver_id": "int"}
    assert info["repo"] == str((served.project / "feature_repo").resolve())


def test_unknown_entities_and_bad_keys_are_named_per_row(served: Served) -> None:
    answer = served.predict({"instances": [{"driver_id": 1001}, {"driver_id": 999999}]})
    assert answer.status_code == 422
    assert answer.json()["problems"] == [
        {"loc": "instances[1].driver_id", "msg": "no features in the online store for "
         "driver_id=999999"},
    ]  # fmt: skip
    answer = served.predict({"instances": [{"driver_id": "1001"}, {"driver": 1001}]})
    assert answer.status_code == 422
    problems = {p["loc"]: p["msg"] for p in answer.json()["problems"]}
    assert problems["instances[0].driver_id"] == "must be an integer, got '1001'"
    assert problems["instances[1].driver_id"].startswith("missing entity key (or give the")
    text = httpx.get(f"{served.url}/metrics", timeout=10).text
    assert 'conveyor_feature_unknown_entities_total{model="drivers"} 1.0' in text


def test_the_log_keeps_the_keys_beside_the_values_looked_up(served: Served) -> None:
    rid = uuid.uuid4().hex
    answer = httpx.post(
        f"{served.url}/predict",
        json={"instances": [{"driver_id": 1003}, {"driver_id": 1004}]},
        headers={"X-Request-ID": rid},
        timeout=30,
    )
    assert answer.status_code == 200
    values = [served.online[1003], served.online[1004]]
    db = Path(served.env["CONVEYOR_HOME"]) / "conveyor.db"
    deadline = time.monotonic() + 30
    while True:
        with sqlite3.connect(db) as conn:
            row = conn.execute(
                "SELECT inputs FROM inference_log WHERE request_id = ?", (rid,)
            ).fetchone()
        if row is not None:
            break
        assert time.monotonic() < deadline, "the request was not logged"
        time.sleep(0.3)
    logged = json.loads(row[0])
    assert logged["entity_keys"] == {"driver_id": [1003, 1004]}
    for feature in FEATURES:
        assert logged[feature] == pytest.approx([v[feature] for v in values])


def test_a_stale_online_store_shows_until_materialized(served: Served) -> None:
    assert served.metric("conveyor_feature_max_age_seconds") == MAX_AGE
    deadline = time.monotonic() + 30
    while served.metric("conveyor_feature_age_seconds") <= MAX_AGE:
        assert time.monotonic() < deadline, "the age never passed max_age_seconds"
        time.sleep(0.5)
    run([CONVEYOR, "feast", "materialize"], served.project, served.env)
    deadline = time.monotonic() + 30
    while served.metric("conveyor_feature_age_seconds") > MAX_AGE:
        assert time.monotonic() < deadline, "the age did not fall after materializing"
        time.sleep(0.3)


def test_a_server_without_feast_answers_the_same_features_alike(served: Served) -> None:
    """The main venv has no Feast: rows with their features are answered as by the Feast
    server; rows with keys alone get a 503 that says what is missing."""
    values = [served.online[1005], served.online[1006]]
    env = {k: v for k, v in served.env.items() if k not in ("PYTHONPATH", "PATH")}
    env["PATH"] = str(Path(PLAIN_CONVEYOR).parent) + ":/usr/bin:/bin"
    url, _ = serve(served.procs, [PLAIN_CONVEYOR, "serve", "drivers"], env, served.project)
    plain = served.predict({"instances": values}, url)
    assert plain.status_code == 200, plain.text
    feast = served.predict({"instances": [{"driver_id": 1005}, {"driver_id": 1006}]})
    assert plain.json()["probabilities"] == feast.json()["probabilities"]
    keyed = served.predict({"instances": [{"driver_id": 1005}]}, url)
    assert keyed.status_code == 503
    assert "pip install 'conveyor-mlops[feast]'" in keyed.json()["error"]


REDIS_STORE = """\
project: {project}
registry: data/registry.db
provider: local
online_store:
  type: redis
  connection_string: "127.0.0.1:6379"
offline_store:
  type: file
entity_key_serialization_version: 3
"""


APPLY_AND_MATERIALIZE = """
import importlib.util, sys
from datetime import UTC, datetime
from pathlib import Path
from feast import FeatureStore
from conveyor.data.feast import OnlineStore

repo = Path(sys.argv[1])  # feast apply, then conveyor feast materialize's own call
found = importlib.util.spec_from_file_location("definitions", repo / "definitions.py")
definitions = importlib.util.module_from_spec(found)
found.loader.exec_module(definitions)
FeatureStore(repo_path=str(repo)).apply([definitions.driver, definitions.driver_hourly_stats])
OnlineStore(repo).materialize(["driver_hourly_stats"], datetime.now(UTC))
"""


def test_a_redis_online_store_answers_as_sqlite_does(served: Served, tmp_path: Path) -> None:
    """The same version, its features read from Redis: a copy of the repository with a Redis
    online store (a Feast project name of its own), applied and materialized, named by
    CONVEYOR_FEAST_REPO; `feast teardown` removes its keys afterwards."""
    import shutil

    repo = tmp_path / "feature_repo"
    shutil.copytree(
        served.project / "feature_repo", repo, ignore=shutil.ignore_patterns("*.db", "__pycache__")
    )
    project = f"conveyor_test_{uuid.uuid4().hex[:8]}"
    (repo / "feature_store.yaml").write_text(REDIS_STORE.format(project=project))
    try:
        run([str(FEAST_BIN / "python"), "-c", APPLY_AND_MATERIALIZE, str(repo)], repo, served.env)
        env = served.env | {"CONVEYOR_FEAST_REPO": str(repo)}
        url, _ = serve(served.procs, [CONVEYOR, "serve", "drivers"], env, served.project)
        info = httpx.get(f"{url}/model/info", timeout=10).json()["online_features"]
        assert info["repo"] == str(repo)
        body = {"instances": [{"driver_id": d} for d in (1001, 1020, 1040)]}
        from_redis, from_sqlite = served.predict(body, url), served.predict(body)
        assert from_redis.status_code == 200, from_redis.text
        assert from_redis.json()["probabilities"] == from_sqlite.json()["probabilities"]
        missing = served.predict({"instances": [{"driver_id": 424242}]}, url)
        assert missing.json()["problems"][0]["loc"] == "instances[0].driver_id"
    finally:
        run([str(FEAST_BIN / "feast"), "teardown"], repo, served.env)


def test_the_readme_flow_goes_on_to_a_rollout(served: Served) -> None:
    """After the first request (the module's server): monitor → a second version → a canary
    rollout promoted on both arms' evidence, with entity-key traffic meanwhile; every command
    exits 0, and the server follows the promotion. Last in the module: it moves production."""
    assert [c.split()[1] for c in served.rest[:2]] == ["monitor", "run"], served.rest
    keys = random_rows([{"driver_id": d} for d in range(1001, 1051)])
    for command in served.rest:
        served.block.run(command, traffic=keys)
    deadline = time.monotonic() + 60
    while httpx.get(f"{served.url}/model/info", timeout=10).json()["version"] != "2":
        assert time.monotonic() < deadline, "the server did not follow the promotion"
        time.sleep(0.5)
