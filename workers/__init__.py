"""zerograd workers package."""
