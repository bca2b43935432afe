"""Database fixtures (filled in by the service work): real Postgres, rolled back per test."""
