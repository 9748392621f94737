"""Point-in-time correctness of training sets joined from a real Feast repository (the drivers
example's, file offline store): a value written after a label's event time never reaches that
label's row. Training, lineage and serving from the same repository are in
test_feast_serving.py."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from tests.integration.feastkit import FEAST_BIN, feast_env, needs_feast, run

pytestmark = pytest.mark.integration


POINT_IN_TIME = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import pandas as pd
    from conveyor.data.feast import join_features
    from conveyor.spec.models import FeastSpec

    import importlib.util
    from feast import FeatureStore
    from conveyor.templates import write_feast_example

    project = Path(sys.argv[1])  # the drivers example, its definitions applied as feast apply would
    write_feast_example(project, "drivers")
    found = importlib.util.spec_from_file_location("definitions", project / "feature_repo" / "definitions.py")
    definitions = importlib.util.module_from_spec(found)
    found.loader.exec_module(definitions)
    FeatureStore(repo_path=str(project / "feature_repo")).apply(
        [definitions.driver, definitions.driver_hourly_stats]
    )
    stats = project / "feature_repo" / "data" / "driver_stats.parquet"
    t = pd.Timestamp("2026-02-01T00:00:00Z")
    pd.DataFrame({
        "driver_id": [1001, 1001, 1002],
        "event_timestamp": [t, t + pd.Timedelta(hours=2), t],
        "conv_rate": [0.1, 0.9, 0.5], "acc_rate": [0.2, 0.8, 0.5],
        "avg_daily_trips": [3, 30, 10],
    }).astype({"conv_rate": "float32", "acc_rate": "float32"}).to_parquet(stats, index=False)
    rows = pd.DataFrame({
        "driver_id": [1001, 1001, 1002],
        "event_timestamp": [t + pd.Timedelta(hours=1), t + pd.Timedelta(hours=3),
                            t - pd.Timedelta(hours=1)],
        "completed": [0, 1, 0],
    })
    spec = FeastSpec(repo="feature_repo", features=["driver_hourly_stats:conv_rate"])
    found = join_features(spec, rows, project, "labels")
    joined, names = found.frame, found.names
    print(json.dumps({"names": names, "conv_rate": [None if v != v else round(float(v), 3)
                      for v in joined["conv_rate"]], "completed": joined["completed"].tolist()}))
    """
)


@needs_feast
def test_a_value_written_after_the_event_never_reaches_its_row(tmp_path: Path) -> None:
    """Driver 1001 has conv_rate 0.1 at t and 0.9 at t+2h: the label at t+1h sees 0.1 (the
    later value would leak the future), the one at t+3h sees 0.9; driver 1002's label comes
    before any value of its own: missing, not borrowed. Rows keep their order."""
    env = feast_env(tmp_path / "home")
    project = tmp_path / "drivers"
    out = run([str(FEAST_BIN / "python"), "-c", POINT_IN_TIME, str(project)], tmp_path, env)
    joined = json.loads(out.strip().splitlines()[-1])
    assert joined == {"names": ["conv_rate"], "conv_rate": [0.1, 0.9, None], "completed": [0, 1, 0]}
