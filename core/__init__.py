"""Shared plumbing: configuration, database, i18n, errors, web and CLI helpers.

Nothing domain-specific lives here; the domain packages (accounts, ipam, filing, importers) build on it.
"""
