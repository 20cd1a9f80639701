"""Views of the seller's web app: thin — parse, call a query or an action, render."""
