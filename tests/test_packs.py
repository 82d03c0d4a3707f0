"""Pack loading and validation: strict, loud, and naming file, line, control and field."""

from __future__ import annotations

import json
import os
import shutil

import pytest
from tests_helpers import write_pack

from auditor.cli import main
from auditor.common.errors import InputError
from auditor.packs.loader import controls_schema, find_pack_paths, load_pack, pack_schema

SCHEMAS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "auditor", "schemas")


@pytest.mark.parametrize("pack_id", sorted(find_pack_paths()))
def test_every_builtin_pack_validates(pack_id):
    from auditor.packs.cache import bypass

    with bypass():  # the YAML itself, validated and compiled (not the shipped cache)
        pack = load_pack(find_pack_paths()[pack_id])
    assert pack.controls
    for control in pack.controls:
        assert control.data["rationale"].strip() and control.data["remediation"].strip()
        assert control.data["audit"].strip()


def test_published_schemas_match_the_operator_table():
    for name, schema in (("pack.schema.json", pack_schema()), ("controls.schema.json", controls_schema())):
        with open(os.path.join(SCHEMAS, name), encoding="utf-8") as fh:
            assert json.load(fh) == json.loads(json.dumps(schema)), f"regenerate auditor/schemas/{name}"


GOOD_CONTROL = """\
controls:
  - id: "9.1"
    title: Something is safe
    section: "9"
    severity: high
    assessment: automated
    target: docker.container
    check: {key: inspect.HostConfig.Privileged, op: eq, value: false}
    rationale: r
    audit: a
    remediation: m
"""


make_pack = write_pack


def test_a_minimal_pack_loads(tmp_path):
    pack = load_pack(make_pack(tmp_path, GOOD_CONTROL))
    assert [c.id for c in pack.controls] == ["9.1"]
    assert pack.controls[0].weight == 3.0


@pytest.mark.parametrize("change,message", [
    (("op: eq", "op: eqq"), "a.yaml line 8: control 9.1 field 'check.op'"),
    (("severity: high", "severity: severe"), "control 9.1 field 'severity'"),
    (("    rationale: r\n", "    rationale: r\n    rationales: x\n"), "'rationales' was unexpected"),
    (("    target: docker.container\n", ""), "'target' is a required property"),
    (('section: "9"', 'section: "8"'), "control 9.1 field 'section'"),
    (("{key: inspect.HostConfig.Privileged, op: eq, value: false}", "{key: 'a[', op: eq, value: 1}"),
     "control 9.1 field 'check': invalid JMESPath"),
    (("value: false}", "}"), "'value' is a required property"),
    (("check: {", "check: {{"), "invalid YAML"),
])
def test_malformed_packs_name_file_control_and_field(tmp_path, change, message):
    text = GOOD_CONTROL.replace(*change)
    assert text != GOOD_CONTROL
    with pytest.raises(InputError) as info:
        load_pack(make_pack(tmp_path, text))
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_duplicate_control_ids_are_rejected(tmp_path):
    text = GOOD_CONTROL + GOOD_CONTROL.split("controls:\n", 1)[1]
    with pytest.raises(InputError, match="duplicate id"):
        load_pack(make_pack(tmp_path, text))


def test_manual_controls_may_not_carry_checks(tmp_path):
    text = GOOD_CONTROL.replace("assessment: automated", "assessment: manual")
    with pytest.raises(InputError, match="control 9.1"):
        load_pack(make_pack(tmp_path, text))


def test_cli_validate_reports_one_line_and_invalid_input_exit(tmp_path, capsys):
    folder = make_pack(tmp_path, GOOD_CONTROL.replace("op: eq", "op: eqq"))
    assert main(["packs", "validate", folder]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "control 9.1" in err and "Traceback" not in err


def test_cli_validate_builtin_packs(capsys):
    assert main(["packs", "validate"]) == 0
    assert "cis-docker-1.6.0" in capsys.readouterr().out


def test_pack_parameters_and_overrides(tmp_path):
    text = GOOD_CONTROL.replace("{key: inspect.HostConfig.Privileged, op: eq, value: false}",
                                "{key: inspect.HostConfig.Memory, op: gte, value: {param: min_mem}}")
    extra = "parameters:\n  min_mem: {default: 1, description: least memory}\n"
    folder = make_pack(tmp_path, text, extra)
    assert load_pack(folder).parameters == {"min_mem": 1}
    assert load_pack(folder, {"min_mem": 5}).parameters == {"min_mem": 5}
    with pytest.raises(InputError, match="no parameter 'max_mem'"):
        load_pack(folder, {"max_mem": 5})


def test_parameter_accepts_and_aliases(tmp_path):
    text = GOOD_CONTROL.replace("{key: inspect.HostConfig.Privileged, op: eq, value: false}",
                                "{key: v, op: eq, value: {param: version}}")
    extra = ("parameters:\n  version:\n    default: latest\n    description: d\n"
             "    accepts: {type: string, pattern: '^(latest|v1\\.[0-9]+)$', description: latest or v1.N}\n"
             "    aliases: {latest: v1.9}\n")
    folder = make_pack(tmp_path, text, extra)
    assert load_pack(folder).parameters == {"version": "v1.9"}  # the alias is what is judged and recorded
    assert load_pack(folder, {"version": "v1.2"}).parameters == {"version": "v1.2"}
    for bad in ("v2.0", 1.3, ["v1.2"]):
        with pytest.raises(InputError, match=r"^--set mini\.version: .* is not accepted \(expected latest or v1\.N\)$"):
            load_pack(folder, {"version": bad})
    broken = make_pack(tmp_path / "b", text, extra.replace("default: latest", "default: newest"))
    with pytest.raises(InputError, match="parameter version default: newest is not accepted"):
        load_pack(broken)


def test_pss_version_parameter_is_recorded_in_the_results():
    from auditor.cli import DEMO_EVIDENCE
    from auditor.evidence.bundle import load_bundle
    from auditor.judging.engine import evaluate
    from auditor.packs.loader import resolve_packs
    from auditor.results.document import build_results, validate_results

    evidence = load_bundle(DEMO_EVIDENCE)
    for given, recorded in (({}, "v1.37"), ({"version": "latest"}, "v1.37"), ({"version": "v1.30"}, "v1.30")):
        packs = resolve_packs(["pod-security-standards"], {"pod-security-standards": given})
        results = build_results(evidence, evaluate(evidence, packs), generated_at="t")
        validate_results(results)
        assert results["packs"][0]["parameters"]["version"] == recorded


def test_pack_copy_outside_the_checkout_loads(tmp_path):
    src = find_pack_paths()["cis-docker-1.6.0"]
    dst = tmp_path / "cis-docker-1.6.0"
    shutil.copytree(src, dst)
    assert load_pack(str(dst)).id == "cis-docker-1.6.0"


# ---------------------------------------------------------------------------------------------
# the shipped cache of validated built-in files (auditor/packs/cache.py)

def test_shipped_pack_cache_is_current():
    from auditor.packs import cache as pack_cache
    from auditor.packs import rebuild_cache

    with open(pack_cache.CACHE_FILE, encoding="utf-8") as fh:
        shipped = fh.read()
    assert shipped == rebuild_cache.render(rebuild_cache.build()), \
        "a pack or framework file changed: regenerate with `python3 -m auditor.packs.rebuild_cache`"


@pytest.mark.parametrize("pack_id", sorted(find_pack_paths()))
def test_cached_and_parsed_packs_load_the_same(pack_id):
    from auditor.packs import cache as pack_cache

    cached = load_pack(find_pack_paths()[pack_id])
    with pack_cache.bypass():
        parsed = load_pack(find_pack_paths()[pack_id])
    assert cached.sha256 == parsed.sha256 and cached.meta == parsed.meta
    assert [(c.id, c.data, c.file, c.line, c.weight) for c in cached.controls] == \
        [(c.id, c.data, c.file, c.line, c.weight) for c in parsed.controls]
    assert cached.controls[0].data is not parsed.controls[0].data


def test_an_edited_copy_of_a_builtin_pack_is_validated_not_taken_from_the_cache(tmp_path):
    folder = tmp_path / "cis-docker-1.6.0"
    shutil.copytree(find_pack_paths()["cis-docker-1.6.0"], folder)
    first = sorted((folder / "controls").glob("*.yaml"))[0]
    assert load_pack(str(folder)).sha256 == load_pack(find_pack_paths()["cis-docker-1.6.0"]).sha256
    first.write_text(first.read_text().replace("severity: ", "severity: dreadful-", 1))
    with pytest.raises(InputError, match=r"line \d+: control \S+ field 'severity': 'dreadful-"):
        load_pack(str(folder))


def test_a_cached_control_with_a_bad_parameter_fails_at_load(tmp_path):
    from auditor.packs.loader import resolve_packs

    with pytest.raises(InputError, match="parameter"):
        resolve_packs(["cis-docker-1.6.0"], {"cis-docker-1.6.0": {"no_such_parameter": 1}})
