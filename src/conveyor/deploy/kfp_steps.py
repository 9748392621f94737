"""The steps of the Kubeflow pipeline (``conveyor.deploy.kfp``), as KFP lightweight
components: KFP ships each function's source to the step's container and runs it there, so
each imports what it needs inside and annotates with real types (no postponed annotations in
this module). Each has one output: a condition on a single output is what every KFP backend,
``kfp.local`` included, evaluates."""


def validate_step(project_dir: str) -> str:
    """conveyor validate: the data against the spec."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "conveyor", "validate", "--project", project_dir],
        capture_output=True,
        text=True,
    )
    print(done.stdout + done.stderr)
    if done.returncode != 0:
        raise RuntimeError(f"conveyor validate failed ({done.returncode})")
    return "valid"


def train_step(project_dir: str, valid: str) -> str:
    """conveyor run --no-register: train (and tune), evaluate, export, check the gates. The
    run's id when the gates passed, "" when they failed (the register step's condition)."""
    import json
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "conveyor", "run", "--project", project_dir, "--no-register",
         "--json", "--by", "kfp"],
        capture_output=True,
        text=True,
    )  # fmt: skip
    print(done.stderr)
    if done.returncode == 3:  # the gates failed: nothing to register
        print(done.stdout)
        return ""
    if done.returncode != 0:
        raise RuntimeError(f"conveyor run failed ({done.returncode}): {done.stdout}")
    result = json.loads(done.stdout)
    print(json.dumps({"run_id": result["run_id"], "metrics": result["metrics"]}))
    return str(result["run_id"]) if result["gates"]["passed"] else ""


def register_step(run_id: str) -> str:
    """conveyor register --run-id: the version, its lineage tags and the staging alias."""
    import json
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "conveyor", "register", "--run-id", run_id, "--by", "kfp",
         "--json"],
        capture_output=True,
        text=True,
    )  # fmt: skip
    print(done.stderr)
    if done.returncode != 0:
        raise RuntimeError(f"conveyor register failed ({done.returncode}): {done.stdout}")
    return str(json.loads(done.stdout)["registered_version"])
