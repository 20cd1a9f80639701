"""TextDesk: SMS conversations between sellers and customers, inside the CRM."""

__version__ = "0.1.0"
