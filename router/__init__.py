"""Model-router gateway: an OpenAI-compatible proxy that sends each request to the cheapest model that will answer it well."""

__version__ = "0.1.0"
