"""HTTP routes (mounted by app.main.create_app; nothing imports this package)."""
