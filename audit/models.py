"""Audit runs and findings."""
