"""``python -m conveyor.monitoring.rules --out deploy/prometheus``: the documented command
that writes the Prometheus rules file and PrometheusRule (the committed files name it).

Only that entry lives here; the rules are built in ``conveyor.deploy.prometheus_rules``.
"""

from __future__ import annotations

if __name__ == "__main__":
    from conveyor.deploy.prometheus_rules.document import main

    raise SystemExit(main())
