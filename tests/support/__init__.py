"""Test doubles and benchmarks that stand in for servers and models: kept out of the installed packages."""
