"""zerograd web service: intake, API, dashboard."""
