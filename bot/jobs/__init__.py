"""The durable job queue's table and its reads and writes."""
