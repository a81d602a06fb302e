"""The cost model: price tables, the recorder, the estimate, reports and the price refresh."""
