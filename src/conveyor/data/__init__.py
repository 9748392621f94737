"""Datasets: loading, schema inference and validation, fingerprints, reference profiles."""
