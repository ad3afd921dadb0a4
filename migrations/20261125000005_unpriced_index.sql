-- Unpriced events are few; this small partial index finds them by model when a price is added
-- (and lists them for GET /v1/unpriced).
CREATE INDEX events_unpriced ON events (provider, model) WHERE price_id IS NULL;
