"""`conveyor serve`: the model server (FastAPI app, runtimes, batching, logging, metrics)."""
