"""Deployment artifacts built from a registered version: a Triton model repository
(``triton``) and Kubernetes / KServe manifests (``k8s``, ``kserve``, ``kustomize``); and what
watches it in production: Prometheus alerting rules (``prometheus_rules``) and the Grafana
dashboard (``dashboard``), both from one set of ``alert_thresholds``."""
