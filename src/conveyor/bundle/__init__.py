"""A registered model version as Conveyor reads it, with no serving, monitoring or rollout
concerns: ``model`` (the bundle on disk — the MLflow model directory plus ``extra_files/``
— and the reader that builds one from a plain MLflow signature), ``sources`` (where a version
comes from: a registry alias with a per-version cache, or a local directory), ``runtime``
(ONNX Runtime or the model's pyfunc behind one small ``Runtime`` interface) and ``convert``
(a plain model's ONNX conversion, checked at load). Serving, monitoring, rollouts, batch
scoring, the pipeline's gates and deploy depend on this package, not on each other."""
