"""Deployment artifacts built from a registered version: a Triton model repository
(``triton``) and Kubernetes / KServe manifests (``k8s``, ``kserve``, ``kustomize``)."""
