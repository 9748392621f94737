"""`conveyor score --engine ray`: the same scoring as ``local`` as a Ray Data pipeline
(``map_batches`` over actors that each open the runtime once), on a local Ray or the cluster at
``RAY_ADDRESS``. Output is a directory of Parquet (or CSV) files.

Ray is an optional extra (``pip install 'conveyor-mlops[ray]'``).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

from conveyor.engines.local import ScoreResult, input_files
from conveyor.engines.scoring import ScoringPlan, plan_for, score_frame
from conveyor.errors import DataError, Problem, UserError

if TYPE_CHECKING:
    import pandas as pd

    from conveyor.bundle.model import Bundle, ModelIdentity


class _Scorer:
    """One Ray actor: the runtime opened once, then batch after batch."""

    def __init__(self, path: str, identity: ModelIdentity, plan: ScoringPlan) -> None:
        from conveyor.bundle.model import read_bundle
        from conveyor.bundle.runtime import open_runtime

        self.bundle = read_bundle(Path(path), identity)
        self.runtime = open_runtime(self.bundle)
        self.plan = plan

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        return score_frame(batch.reset_index(drop=True), self.bundle, self.runtime, self.plan)


def score_ray(
    bundle: Bundle,
    input_spec: str,
    output: Path,
    keep: list[str] | None = None,
    concurrency: int = 2,
) -> ScoreResult:
    try:
        import ray
        import ray.data
    except ImportError:
        raise UserError("--engine ray needs Ray: pip install 'conveyor-mlops[ray]'") from None
    started = time.perf_counter()
    files = input_files(input_spec)
    started_here = not ray.is_initialized()
    if started_here:  # RAY_ADDRESS (Ray's own variable) points at a cluster
        ray.init(include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    try:
        ray.data.DataContext.get_current().enable_progress_bars = False
        dataset = (
            ray.data.read_csv(files)
            if files[0].lower().endswith(".csv")
            else ray.data.read_parquet(files)
        )
        plan = plan_for(bundle, list(dataset.schema().names), keep)
        columns = list(dict.fromkeys([*plan.keep, *plan.features]))
        answers = dataset.select_columns(columns).map_batches(
            _Scorer,
            fn_constructor_args=(str(bundle.path), bundle.identity, plan),
            batch_format="pandas",
            concurrency=concurrency,
            # half a CPU each: the read tasks feeding the actors need CPUs too, and on a small
            # cluster actors holding every CPU would wait for input forever
            num_cpus=0.5,
        )
        suffix = output.suffix.lower()
        if suffix == ".csv":
            answers.write_csv(str(output))
        elif suffix in {".parquet", ".pq", ""}:
            answers.write_parquet(str(output))
        else:
            raise DataError(str(output), [Problem("--output", "use a .parquet or .csv directory")])
        rows = ray.data.read_parquet(str(output)).count() if suffix != ".csv" else answers.count()
    finally:
        if started_here:
            ray.shutdown()
    return ScoreResult(int(rows), output, time.perf_counter() - started, "ray")
