"""TA-audit-trail engine: collects SaaS audit trails into Splunk without losing or repeating a record.

The engine (windows, paging, dedup, checkpoints, pacing, emitting) knows nothing about any vendor; each
audit source lives in ``audit_trail.sources``.
"""

__version__ = "1.1.0"
APP_NAME = "TA-audit-trail"
