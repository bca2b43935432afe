"""zerograd grader package."""
