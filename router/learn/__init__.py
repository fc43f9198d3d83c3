"""Offline tools of the learned router: training, evaluation and threshold calibration.

Kept apart from serving: nothing under router.classify (or anything a running gateway imports) imports
this package, so its heavier dependencies (scipy, matplotlib: `pip install '.[train]'`)
stay out of the gateway.
"""
