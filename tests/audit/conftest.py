"""Audit test fixtures; the labeled sample corpus is data, never collected."""

collect_ignore_glob = ["samples/*", "samples/**/*"]
