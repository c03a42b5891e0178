"""The Rampart gateway: authentication, rate limits and the HTTP API over the bus."""
