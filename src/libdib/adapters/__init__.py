"""Implementations of the domain's ports over concrete technology."""
