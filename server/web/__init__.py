"""HTTP plumbing every route shares: request limits, strict parameter reading, content
negotiation, compression and the one error shape."""
