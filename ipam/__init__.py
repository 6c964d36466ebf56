"""The IPv6 (and IPv4) prefix registry and allocation engine."""
