"""Battery fuel gauges."""
