"""HTTP endpoints: thin, parse once, hand over to router.pipeline."""
