"""Training: pipeline build and fit, tuning, evaluation, ONNX export with a parity check."""
