"""The alerting service of Rampart."""
