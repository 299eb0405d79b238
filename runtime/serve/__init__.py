"""`syncmap serve`: the webhook receiver, the worker that runs deliveries through the engine, subscriptions, metrics."""
