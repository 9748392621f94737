"""``python -m conveyor.deploy.dashboard --out DIR``: write the generated files."""

from __future__ import annotations

from conveyor.deploy.dashboard.model import main

raise SystemExit(main())
