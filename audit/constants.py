"""Limits of the audit app's persistence, command output and report pages."""

# Findings inserted per INSERT statement when a run is stored.
PERSIST_BATCH_SIZE = 1000
# From this many files on, the command reports progress on stderr.
PROGRESS_MIN_FILES = 200
# Progress is reported every time this share of the files (in percent) is done.
PROGRESS_STEP_PERCENT = 10
# Bars shown in the "by file" chart of a run's page.
CHART_TOP_FILES = 15
# Bar colours of the "by severity" chart, most urgent darkest.
SEVERITY_COLOURS = {
    "critical": "#8b1a1a",
    "high": "#d0542c",
    "medium": "#e0a526",
    "low": "#5a8fbb",
}
# Findings listed per section (new, fixed) on a run's page.
CHANGES_SHOWN = 200
# Files larger than this are shown as snippets only in the file view.
FILE_VIEW_MAX_BYTES = 2_000_000
# Runs per page on the runs list.
RUNS_PER_PAGE = 50
# Findings per page of a run's findings list; the exports always hold them all.
FINDINGS_PER_PAGE = 50
# Report pages and exports need staff with both: they show findings of runs.
REPORT_PERMISSIONS = ("audit.view_auditrun", "audit.view_finding")
# Recent runs offered one by one in the findings admin's run filter.
RUNS_IN_FILTER = 20
