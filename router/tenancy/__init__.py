"""Tenants: who is calling (keys), what they may name (routes, adapters), and what they may spend (limits)."""
