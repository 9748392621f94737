"""Tag names Conveyor writes on MLflow runs and model versions."""

from __future__ import annotations

PREFIX = "conveyor."
STAGE = "conveyor.stage"
SEMVER = "conveyor.semver"
SEMVER_REASON = "conveyor.semver_reason"
DATA_FINGERPRINT = "conveyor.data_fingerprint"
SPEC_HASH = "conveyor.spec_hash"
PARAMS_HASH = "conveyor.params_hash"
ESTIMATOR = "conveyor.estimator"
GIT_COMMIT = "conveyor.git_commit"
GATES = "conveyor.gates"
RUNTIME = "conveyor.runtime"
ONNX_URI = "conveyor.onnx_uri"
RUN_ID = "conveyor.run_id"
REQUIRE_APPROVAL = "conveyor.require_approval"
APPROVED_BY = "conveyor.approved_by"
APPROVED_AT = "conveyor.approved_at"
METRIC_PREFIX = "conveyor.metric."

STAGING = "staging"
PRODUCTION = "production"
ARCHIVED = "archived"
REJECTED = "rejected"
ALIASES = (STAGING, PRODUCTION)
