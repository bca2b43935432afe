"""Services: business logic on a session; they flush, the caller commits."""
