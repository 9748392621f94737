"""``python -m conveyor.deploy.prometheus_rules --out DIR``: write the generated files."""

from __future__ import annotations

from conveyor.deploy.prometheus_rules.document import main

raise SystemExit(main())
