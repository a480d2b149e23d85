"""SMART goals: progress of a goal computed from its metric's per-period values."""
