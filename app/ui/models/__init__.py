"""Qt models over snapshots: they never query the store (DESIGN.md §2, rule 5)."""
