"""Command-line fronts on the one flow; each module registers one command group."""
