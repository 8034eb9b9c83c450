"""Audit sources: one module per SaaS audit API, each implementing ``audit_trail.source.AuditSource``."""
