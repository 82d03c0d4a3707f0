"""The JSON Schemas of pack and framework files, generated from the operators table.

Kept apart from the loaders so that the loaders, the pre-parsed cache (whose entries are tagged
with a fingerprint of these schemas) and the published schema files in auditor/schemas/ all read
them from one place, without importing each other.
"""

from __future__ import annotations

from typing import Any

from auditor.packs.conditions import OPS, VALUE_TYPES

SEVERITIES = ("critical", "high", "medium", "low", "info")
SOURCE_KINDS = ("standard", "published-mapping", "judgement")


def condition_schema() -> dict[str, Any]:
    """The JSON Schema of one condition, generated from :data:`auditor.packs.conditions.OPS`."""
    with_value = sorted(name for name, (_, needs, _) in OPS.items() if needs)
    without_value = sorted(name for name, (_, needs, _) in OPS.items() if not needs)
    value_ref = {"anyOf": [{}, {"type": "object", "required": ["param"], "additionalProperties": False,
                                 "properties": {"param": {"type": "string"}}}]}
    leaf_common = {"value_type": {"enum": sorted(VALUE_TYPES)}, "note": {"type": "string"}}
    compare = {
        "type": "object",
        "oneOf": [{"required": ["key"]}, {"required": ["flag"]}, {"required": ["param"]}],
        "properties": {"key": {"type": "string", "minLength": 1}, "flag": {"type": "string", "minLength": 1},
                       "param": {"type": "string", "minLength": 1},
                       "op": {"enum": sorted(OPS)}, "value": value_ref, **leaf_common},
        "required": ["op"],
        "additionalProperties": False,
        "allOf": [
            {"if": {"properties": {"op": {"enum": with_value}}}, "then": {"required": ["value"]}},
            {"if": {"properties": {"op": {"enum": without_value}}}, "then": {"not": {"required": ["value"]}}},
        ],
    }
    return {
        "$defs": {
            "condition": {"oneOf": [
                compare,
                {"type": "object", "required": ["all"], "additionalProperties": False,
                 "properties": {"all": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/condition"}},
                                "note": {"type": "string"}}},
                {"type": "object", "required": ["any"], "additionalProperties": False,
                 "properties": {"any": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/condition"}},
                                "note": {"type": "string"}}},
                {"type": "object", "required": ["not"], "additionalProperties": False,
                 "properties": {"not": {"$ref": "#/$defs/condition"}, "note": {"type": "string"}}},
                {"type": "object", "required": ["schema"], "additionalProperties": False,
                 "properties": {"schema": {"type": "object"}, "key": {"type": "string"},
                                "note": {"type": "string"}}},
            ]},
        },
    }


def pack_schema() -> dict[str, Any]:
    """JSON Schema of ``pack.yaml``."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://auditor.invalid/schemas/pack.schema.json",
        "title": "auditor pack (pack.yaml)",
        "type": "object",
        "required": ["id", "kind", "title", "version", "sections"],
        "additionalProperties": False,
        "properties": {
            "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9.-]*$"},
            "kind": {"enum": ["benchmark"]},
            "title": {"type": "string"},
            "version": {"type": "string"},
            "description": {"type": "string"},
            "source": {"type": "string"},
            "weights": {"type": "object", "propertyNames": {"enum": list(SEVERITIES)},
                        "additionalProperties": {"type": "number", "minimum": 0}},
            "parameters": {"type": "object", "additionalProperties": {
                "type": "object", "required": ["default", "description"], "additionalProperties": False,
                "properties": {
                    "default": {}, "description": {"type": "string"},
                    # the values accepted (a string matching `pattern`; `description` names them
                    # in the error), and values that stand for another (latest -> v1.37)
                    "accepts": {"type": "object", "required": ["type", "pattern"], "additionalProperties": False,
                                "properties": {"type": {"const": "string"}, "pattern": {"type": "string"},
                                               "description": {"type": "string"}}},
                    "aliases": {"type": "object", "additionalProperties": {"type": "string"}}}}},
            "sections": {"type": "array", "minItems": 1, "items": {
                "type": "object", "required": ["id", "title"], "additionalProperties": False,
                "properties": {"id": {"type": "string"}, "title": {"type": "string"}}}},
            "interpretation": {"type": "string"},
        },
    }


def controls_schema() -> dict[str, Any]:
    """JSON Schema of a ``controls/*.yaml`` file."""
    text = {"type": "string", "minLength": 1}
    control = {
        "type": "object",
        "required": ["id", "title", "section", "assessment", "severity", "rationale", "remediation", "audit"],
        "additionalProperties": False,
        "properties": {
            "id": {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9._-]*$"},
            "title": text,
            "section": {"type": "string"},
            "level": {"enum": [1, 2]},
            "severity": {"enum": list(SEVERITIES)},
            "weight": {"type": "number", "minimum": 0},
            "assessment": {"enum": ["automated", "manual"]},
            "cis_assessment": {"enum": ["automated", "manual"]},
            # one target, or several comma-separated ("k8s.role, k8s.clusterrole")
            "target": {"type": "string", "pattern": r"^[a-z0-9_]+\.[a-z0-9_.]+(, *[a-z0-9_]+\.[a-z0-9_.]+)*$"},
            "where": {"$ref": "#/$defs/condition"},
            "check": {"$ref": "#/$defs/condition"},
            "expected": text,
            "rationale": text,
            "audit": text,
            "remediation": text,
            "interpretation": text,
            # an automated control whose evidence is optional (scan results): without its target
            # in the bundle it is `manual`, with this text as the reason
            "manual_without": text,
            "references": {"type": "array", "items": {"type": "string"}},
            "tags": {"type": "array", "items": {"type": "string"}},
            # ids this control had before (a renumbered control in a pack upgrade): "5.4", or
            # "old-pack-id:5.4" across packs; recorded in results so `auditor diff` can pair them
            "aliases": {"type": "array", "uniqueItems": True, "items": {
                "type": "string", "pattern": r"^([a-z0-9][a-z0-9.-]*:)?[A-Za-z0-9][A-Za-z0-9._-]*$"}},
        },
        "allOf": [
            {"if": {"properties": {"assessment": {"const": "automated"}}},
             "then": {"required": ["target", "check"]},
             "else": {"not": {"anyOf": [{"required": ["check"]}, {"required": ["where"]}]}}},
        ],
    }
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://auditor.invalid/schemas/controls.schema.json",
        "title": "auditor pack controls file (controls/*.yaml)",
        "type": "object",
        "required": ["controls"],
        "additionalProperties": False,
        "properties": {"controls": {"type": "array", "items": control}},
    }
    schema.update(condition_schema())
    return schema


def framework_schema() -> dict[str, Any]:
    """JSON Schema of ``framework.yaml`` (under ``framework``) and ``requirements/*.yaml`` (the root)."""
    text = {"type": "string", "minLength": 1}
    mapping = {
        "type": "object", "required": ["control", "source"], "additionalProperties": False,
        "properties": {"control": {"type": "string", "pattern": r"^[a-z0-9][a-z0-9.-]*:[A-Za-z0-9][A-Za-z0-9._-]*$"},
                       "source": text, "note": text},
    }
    requirement = {
        "type": "object",
        "required": ["id", "title", "section", "assessment"],
        "additionalProperties": False,
        "properties": {
            "id": {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9.()_-]*$"},
            "title": text,
            "section": {"type": "string"},
            "assessment": {"enum": ["automated", "manual"]},
            "statement": text,
            "audit": text,
            "controls": {"type": "array", "items": mapping},
            "references": {"type": "array", "items": {"type": "string"}},
        },
        "allOf": [
            {"if": {"properties": {"assessment": {"const": "automated"}}},
             "then": {"required": ["controls"], "properties": {"controls": {"minItems": 1}}},
             "else": {"required": ["audit"]}},
        ],
    }
    framework = {
        "type": "object",
        "required": ["id", "kind", "title", "version", "source", "sections", "sources"],
        "additionalProperties": False,
        "properties": {
            "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9.-]*$"},
            "kind": {"const": "framework"},
            "title": text,
            "version": text,
            "source": text,
            "description": text,
            "interpretation": text,
            "sections": {"type": "array", "minItems": 1, "items": {
                "type": "object", "required": ["id", "title"], "additionalProperties": False,
                "properties": {"id": {"type": "string"}, "title": {"type": "string"}}}},
            "sources": {"type": "object", "minProperties": 1, "additionalProperties": {
                "type": "object", "required": ["kind", "citation", "verified"], "additionalProperties": False,
                "properties": {"kind": {"enum": list(SOURCE_KINDS)}, "citation": text, "verified": {"type": "boolean"},
                               "note": text}}},
        },
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://auditor.invalid/schemas/framework.schema.json",
        "title": "auditor framework pack requirements file (requirements/*.yaml); framework.yaml is $defs/framework",
        "type": "object",
        "required": ["requirements"],
        "additionalProperties": False,
        "properties": {"requirements": {"type": "array", "items": {"$ref": "#/$defs/requirement"}}},
        "$defs": {"requirement": requirement, "framework": framework, "mapping": mapping},
    }
