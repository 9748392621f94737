"""`python -m conveyor ...`: the same CLI as the `conveyor` command."""

from conveyor.cli.main import entry

entry()
