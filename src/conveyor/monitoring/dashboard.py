"""``python -m conveyor.monitoring.dashboard --out deploy/grafana/dashboards``: the documented
command that writes the Grafana dashboard (deploy/grafana's provisioning names it).

Only that entry lives here; the dashboard is built in ``conveyor.deploy.dashboard``.
"""

from __future__ import annotations

if __name__ == "__main__":
    from conveyor.deploy.dashboard.model import main

    raise SystemExit(main())
