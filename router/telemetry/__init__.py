"""What the gateway reports about itself: one record per request, metrics and structured logs built from it."""
