"""Offline stand-ins for Splunk's search-time machinery, enough to check the add-on's knowledge objects.

Each module covers one piece: reading .conf files, eval expressions, lookups, the field-extraction
pipeline, event type searches, Dashboard Studio views, CIM facts, and the generated documentation tables.
"""
