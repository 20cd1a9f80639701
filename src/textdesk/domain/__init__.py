"""Domain rules as pure functions over plain data: no database, no Django models."""
