"""Fault tests: libdib against a database that goes away, a load that is killed, a server that crashes."""
