"""Facts about CIM 6.1's Change and Authentication data models that the add-on's mapping must satisfy.

Source: the data model definitions Splunk publishes with pytest-splunk-addon (Change.json,
Authentication.json) and Splunk_SA_CIM's advisory values, as summarised in the project's reference notes.
"""

from __future__ import annotations

from typing import Dict, FrozenSet, Tuple

ALL_CHANGES = "All_Changes"
ACCOUNT_MANAGEMENT = "Account_Management"
AUTHENTICATION = "Authentication"
DATASETS = (ALL_CHANGES, ACCOUNT_MANAGEMENT, AUTHENTICATION)

#: Which data model a tag routes events to. change+account is still the Change model.
TAG_MODEL = {"change": "Change", "account": "Change", "authentication": "Authentication"}

REQUIRED: Dict[str, Tuple[str, ...]] = {
    ALL_CHANGES: (
        "action", "change_type", "command", "dest", "dvc", "object", "object_attrs", "object_category",
        "object_id", "src", "status", "user", "vendor_product",
    ),
    ACCOUNT_MANAGEMENT: ("src_user",),  # on top of All_Changes
    AUTHENTICATION: ("action", "app", "dest", "src", "user"),
}

OPTIONAL: Dict[str, Tuple[str, ...]] = {
    ALL_CHANGES: (
        "object_path", "result", "result_id", "user_agent", "user_name", "user_type", "vendor_account",
        "vendor_region",
    ),
    ACCOUNT_MANAGEMENT: ("src_user_type", "src_user_name", "dest_nt_domain", "src_nt_domain"),
    AUTHENTICATION: (
        "authentication_method", "authentication_service", "user_id", "user_role", "user_type", "src_user",
        "src_user_role", "src_user_type", "user_agent", "duration", "response_time", "session_id", "signature",
        "signature_id", "reason", "reason_id", "vendor_account",
    ),
}

CHANGE_ACTIONS: FrozenSet[str] = frozenset(
    (
        "acl_modified", "cleared", "created", "deleted", "modified", "stopped", "lockout", "read", "logoff",
        "updated", "started", "restarted", "unlocked",
    )
)
AUTHENTICATION_ACTIONS: FrozenSet[str] = frozenset(("success", "failure", "pending", "error"))
STATUS_VALUES: FrozenSet[str] = frozenset(("success", "failure"))
#: Fields whose values must not contain a double quote.
NO_QUOTES = ("action", "object_attrs", "object_id", "object_path")
#: Values CIM validation treats as a missing field.
PLACEHOLDERS: FrozenSet[str] = frozenset(("", "-", "unknown", "null"))
#: Asset/identity fields that belong to Splunk ES, never to an add-on.
ES_ONLY_PREFIXES = ("dest", "dvc", "src", "src_user", "user")
ES_ONLY_SUFFIXES = ("_bunit", "_category", "_priority")


def datasets_for_tags(tags: FrozenSet[str]) -> Tuple[str, ...]:
    """The datasets an event with these tags reaches (Account_Management implies All_Changes)."""
    found = []
    if "change" in tags:
        found.append(ALL_CHANGES)
        if "account" in tags:
            found.append(ACCOUNT_MANAGEMENT)
    if "authentication" in tags:
        found.append(AUTHENTICATION)
    return tuple(found)


def required_fields(datasets: Tuple[str, ...]) -> Tuple[str, ...]:
    """Every field the given datasets require, without duplicates, in a stable order."""
    seen = []
    for dataset in datasets:
        for name in REQUIRED[dataset]:
            if name not in seen:
                seen.append(name)
    return tuple(seen)


def field_datasets(name: str) -> Tuple[str, ...]:
    """The datasets that define a field, required or optional, in DATASETS order."""
    return tuple(dataset for dataset in DATASETS if name in REQUIRED[dataset] or name in OPTIONAL[dataset])


def is_es_only(name: str) -> bool:
    """True for *_bunit / *_category / *_priority of dest, dvc, src, src_user or user."""
    return any(name == prefix + suffix for prefix in ES_ONLY_PREFIXES for suffix in ES_ONLY_SUFFIXES)
