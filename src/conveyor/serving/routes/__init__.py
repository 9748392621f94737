"""HTTP routes: thin adapters that decode, call the data plane, and encode."""
