"""A thin facade over the MLflow model registry: versions, aliases as stages, lineage tags."""
