"""State changes of people and their preferences."""
