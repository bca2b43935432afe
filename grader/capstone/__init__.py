"""Week-6 capstone: trusted inputs, measurement, baseline runs and per-track checks."""
