"""Walking the candidate list: the only place that knows attempt order, fallback and stream commitment."""
