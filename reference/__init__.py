"""zerograd reference package."""
