"""Request classification: pure CPU judgements of a request's difficulty, size and shape.

`classify` never calls a model and never does I/O; `decide` (router.policy.decide) consumes its output.
"""
