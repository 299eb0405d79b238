"""The system catalogs: schema, loader, the seed's five-object table, and the Pipedrive spec."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from syncmap.compiler import catalog as cat
from syncmap.compiler.catalog import (
    TYPES,
    CatalogError,
    DependencyCycleError,
    available_systems,
    dependency_order,
    load_catalog,
    resolve_path,
    suggest,
)

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
SEED_TABLE = SHARED / "seeds" / "004_f96e50ffa30612e5.txt"
SEED_FAQ = SHARED / "seeds" / "000_1954d7bc35d7ba93.txt"
PACKAGE_DIR = Path(load_catalog("pipedrive").file).parent


@pytest.fixture(scope="module")
def shared_seeds() -> None:
    """The seed texts the catalogs quote; a checkout without ../shared beside it is broken, so
    these tests fail loudly rather than skip."""
    for seed in (SEED_TABLE, SEED_FAQ):
        assert seed.is_file(), f"{seed} is missing: these tests need ../shared beside the checkout"


needs_shared = pytest.mark.usefixtures("shared_seeds")


@pytest.fixture(scope="module")
def pd() -> cat.Catalog:
    return load_catalog("pipedrive")


@pytest.fixture(scope="module")
def ap() -> cat.Catalog:
    return load_catalog("autopilot")


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\xa0", " ")).strip()


# ---------------------------------------------------------------------------------------------
# loading and validation
# ---------------------------------------------------------------------------------------------


def test_shipped_catalogs_load_and_are_discovered(pd, ap):
    assert {"pipedrive", "autopilot"} <= set(available_systems())
    assert pd.system == "pipedrive" and ap.system == "autopilot"
    assert pd.object_names() == ["User", "Organization", "Person", "Deal", "Activity"]
    assert set(ap.object_names()) == {"Contact", "List", "Journey", "Activity"}
    assert load_catalog("pipedrive") is pd  # cached


def test_type_vocabulary_is_defined_once_in_schema_and_loader():
    schema = json.loads((PACKAGE_DIR / "catalog.schema.json").read_text())
    assert tuple(schema["$defs"]["type"]["enum"]) == TYPES


def _copy_catalog(tmp_path: Path, system: str, edit) -> Path:
    data = json.loads((PACKAGE_DIR / f"{system}.json").read_text())
    edit(data)
    (tmp_path / f"{system}.json").write_text(json.dumps(data))
    return tmp_path


def test_schema_violation_names_file_and_pointer(tmp_path):
    def edit(d):
        d["objects"]["Person"]["fields"]["id"]["type"] = "uuid"

    _copy_catalog(tmp_path, "pipedrive", edit)
    with pytest.raises(CatalogError) as info:
        load_catalog("pipedrive", search_path=tmp_path)
    err = info.value
    assert err.pointer == "/objects/Person/fields/id/type"
    assert "pipedrive.json" in err.file
    assert "/objects/Person/fields/id/type" in str(err) and "'uuid' is not one of" in str(err)


def test_inconsistent_catalog_is_refused(tmp_path):
    def edit(d):
        d["objects"]["Person"]["relations"]["organization"]["target"] = "Organisation"
        d["objects"]["Deal"]["required"][0]["field"] = "expected_close"
        d["rules"][0]["field"] = "marked_done"

    _copy_catalog(tmp_path, "pipedrive", edit)
    with pytest.raises(CatalogError) as info:
        load_catalog("pipedrive", search_path=tmp_path)
    pointers = [p for p, _ in info.value.problems]
    assert "/objects/Person/relations/organization/target" in pointers
    assert "/objects/Deal/required/0/field" in pointers
    assert "/rules/0/field" in pointers
    assert "no object `Organisation`" in str(info.value)


def test_rule_with_unknown_parameter_is_refused(tmp_path):
    _copy_catalog(tmp_path, "pipedrive", lambda d: d["rules"][0].update(fieldd="x"))
    with pytest.raises(CatalogError, match="fieldd"):
        load_catalog("pipedrive", search_path=tmp_path)


def test_unreadable_missing_and_misnamed_catalogs(tmp_path):
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(CatalogError, match=r"(?s)broken\.json.*not JSON"):
        load_catalog("broken", search_path=tmp_path)
    with pytest.raises(CatalogError, match="no catalog for system `nosuch`"):
        load_catalog("nosuch", search_path=tmp_path)
    shutil.copy(PACKAGE_DIR / "autopilot.json", tmp_path / "ortto.json")
    with pytest.raises(CatalogError, match="does not match the file name"):
        load_catalog("ortto", search_path=tmp_path)


def _third_system() -> dict:
    return {
        "catalog_version": 1,
        "system": "hubspot",
        "display_name": "HubSpot",
        "custom_fields": {"style": "hash_key", "key_pattern": "^[a-z_]+$", "native_types": {"string": "string", "number": "number"}},
        "connection": {"settings": {"token": {"secret": True, "required": True, "description": "private app token"}}},
        "objects": {
            "Company": {
                "display_name": "Company",
                "permissions": {"read": True, "create": True, "update": True, "delete": False},
                "custom_fields": True,
                "identity": {"key": "id"},
                "fields": {
                    "id": {"api": "hs_object_id", "type": "id", "access": "read_only"},
                    "name": {"api": "name", "type": "string", "access": "read_write"},
                },
            },
            "Contact": {
                "display_name": "Contact",
                "permissions": {"read": True, "create": True, "update": True, "delete": True},
                "custom_fields": True,
                "identity": {"key": "id", "dedupe": ["email"]},
                "fields": {
                    "id": {"api": "hs_object_id", "type": "id", "access": "read_only"},
                    "email": {"api": "email", "type": "email", "access": "read_write"},
                    "company_id": {"api": "associatedcompanyid", "type": "id", "access": "read_write"},
                },
                "relations": {"company": {"target": "Company", "cardinality": "one", "key_on": "self", "key": "company_id"}},
                "required": [{"field": "email", "seed": "Email"}],
            },
        },
    }


def test_third_system_is_just_a_json_file(tmp_path):
    (tmp_path / "hubspot.json").write_text(json.dumps(_third_system()))
    assert available_systems(search_path=tmp_path) == ["hubspot"]
    assert "hubspot" in available_systems(search_path=[tmp_path, PACKAGE_DIR])
    hs = load_catalog("hubspot", search_path=tmp_path)
    assert dependency_order(hs) == ["Company", "Contact"]
    path = resolve_path(hs, "Contact", ["company", "name"])
    assert path.ok and path.field.api_name == "name" and path.cardinality == "one"


def test_dependency_cycle_in_a_catalog_is_reported_as_a_chain(tmp_path):
    data = _third_system()
    company = data["objects"]["Company"]
    company["fields"]["main_contact_id"] = {"api": "main", "type": "id", "access": "read_write"}
    company["relations"] = {"main_contact": {"target": "Contact", "cardinality": "one", "key_on": "self", "key": "main_contact_id"}}
    (tmp_path / "hubspot.json").write_text(json.dumps(data))
    with pytest.raises(DependencyCycleError) as info:
        load_catalog("hubspot", search_path=tmp_path)
    assert info.value.chain in (("Company", "Contact", "Company"), ("Contact", "Company", "Contact"))
    assert "Company -> Contact -> Company" in str(info.value) or "Contact -> Company -> Contact" in str(info.value)


# ---------------------------------------------------------------------------------------------
# the seed's five-object table, reproduced exactly
# ---------------------------------------------------------------------------------------------

_ROW = re.compile(r"^(User|Person|Organization|Deal|Activity) (\S+) (Read(?: / \w+)*) (Yes|No) (.+)$")


def _seed_table() -> dict[str, dict]:
    rows: dict[str, dict] = {}
    current = None
    for raw in SEED_TABLE.read_text(encoding="utf-8").splitlines():
        line = _norm(raw)
        m = _ROW.match(line)
        if m:
            obj, bedrock, perms, custom, rel = m.groups()
            current = rows[obj] = {
                "object": obj,
                "bedrock_object": bedrock,
                "permissions": perms,
                "custom_field_support": custom,
                "relationships": rel,
                "required_fields": [],
            }
        elif current is not None and line and not line.startswith("*"):
            current["required_fields"].append(line)
        elif not line and current is not None:
            current = None
    return rows


@needs_shared
def test_seed_table_parses_to_five_objects():
    rows = _seed_table()
    assert list(rows) == ["User", "Person", "Organization", "Deal", "Activity"]
    assert rows["Person"]["required_fields"] == ["First Name", "Last Name"]


@needs_shared
@pytest.mark.parametrize("name", ["User", "Person", "Organization", "Deal", "Activity"])
def test_five_object_table_row(pd, name):
    row = _seed_table()[name]
    obj = pd.object(name)
    assert dict(obj.seed_row) == {**row, "required_fields": tuple(row["required_fields"])}
    assert obj.bedrock_object == row["bedrock_object"]
    # permissions
    words = {w.strip().lower() for w in row["permissions"].split("/")}
    assert set(obj.permissions.allowed()) == words
    assert obj.permissions.seed == row["permissions"]
    # custom-field support
    assert obj.custom_fields is (row["custom_field_support"] == "Yes")
    # relationships
    seeded = [r for r in obj.relations if r.seed_table]
    if row["relationships"] == "---":
        assert seeded == []
    else:
        assert [r.target for r in seeded] == [row["relationships"]]
    # required fields, in the seed's words, bound to real fields
    assert [r.seed for r in obj.required] == row["required_fields"]
    for req in obj.required:
        assert obj.field(req.field) is not None


def test_required_fields_bind_to_the_expected_api_fields(pd):
    got = {o.name: [r.field for r in o.required] for o in pd.objects}
    assert got == {
        "User": [],
        "Person": ["first_name", "last_name"],
        "Organization": ["name"],
        "Deal": ["expected_close_date"],
        "Activity": ["marked_as_done_time"],
    }


@needs_shared
def test_every_seed_quote_is_verbatim(pd, ap):
    seeds = _norm(SEED_TABLE.read_text(encoding="utf-8")) + " " + _norm(SEED_FAQ.read_text(encoding="utf-8"))
    quotes = [r.seed for c in (pd, ap) for r in c.rules]
    quotes += [a.seed for c in (pd, ap) for a in c.actions if a.seed]
    quotes += [o.permissions.seed for o in pd.objects]
    assert len(quotes) > 20
    for q in quotes:
        assert _norm(q) in seeds, q


# ---------------------------------------------------------------------------------------------
# against Pipedrive's OpenAPI files
# ---------------------------------------------------------------------------------------------

_V2_PATHS = {"Person": "/persons", "Organization": "/organizations", "Deal": "/deals", "Activity": "/activities"}


@pytest.fixture(scope="module")
def v2() -> dict:
    with open(SHARED / "ref" / "pipedrive" / "v2.yaml", encoding="utf-8") as fh:
        return yaml.load(fh, Loader=yaml.CSafeLoader)


@pytest.fixture(scope="module")
def v1() -> dict:
    with open(SHARED / "ref" / "pipedrive" / "v1.yaml", encoding="utf-8") as fh:
        return yaml.load(fh, Loader=yaml.CSafeLoader)


def _props(spec: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    out: dict = {}
    for part in schema.get("allOf", []):
        out.update(_props(spec, part))
    if schema.get("type") == "array" and "items" in schema:
        return _props(spec, schema["items"])
    out.update(schema.get("properties", {}))
    return out


def _body(spec, path, method) -> dict:
    return _props(spec, spec["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"])


def _response_data(spec, path) -> dict:
    top = _props(spec, spec["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"])
    return _props(spec, top["data"])


@pytest.mark.parametrize("name", list(_V2_PATHS))
def test_writable_fields_are_in_the_v2_request_bodies(pd, v2, name):
    base = _V2_PATHS[name]
    post = set(_body(v2, base, "post"))
    patch = set(_body(v2, base + "/{id}", "patch"))
    obj = pd.object(name)
    for f in obj.fields:
        if f.writable_on_create:
            assert f.api_name in post, f"{name}.{f.name} marked writable on create but not in POST {base}"
        if f.writable_on_update:
            assert f.api_name in patch, f"{name}.{f.name} marked writable on update but not in PATCH {base}/{{id}}"
        if f.api_name in post and f.api_name in patch:
            assert f.access == "read_write", f"{name}.{f.name} is accepted by POST and PATCH"
        elif f.api_name in post:
            assert f.access == "create_only", f"{name}.{f.name} is accepted by POST only"
        else:
            assert f.read_only, f"{name}.{f.name} is not accepted by POST"


@pytest.mark.parametrize("name", list(_V2_PATHS))
def test_v2_names_and_types_are_in_the_response_schema(pd, v2, name):
    data = _response_data(v2, _V2_PATHS[name] + "/{id}")
    for f in pd.object(name).fields:
        assert f.api_name in data, f"{name}.{f.name}: `{f.api_name}` not in v2 GET {_V2_PATHS[name]}/{{id}}"
        assert f.api_type == data[f.api_name].get("type"), f"{name}.{f.name}"
    for r in pd.object(name).relations:
        holder = pd.object(r.target if r.key_on == "target" else name)
        assert holder.field(r.key).api_name in _response_data(v2, _V2_PATHS[holder.name] + "/{id}")


def test_user_fields_are_in_the_v1_users_response(pd, v1):
    data = _response_data(v1, "/users/{id}")
    for f in pd.object("User").fields:
        assert f.api_name in data and f.api_type == data[f.api_name].get("type"), f.name
        assert f.read_only


def test_api_paths_exist_in_the_specs(pd, v1, v2):
    for obj in pd.objects:
        for key, path in obj.api.items():
            if key == "webhook_entity":
                continue
            if key == "changes_since":  # a query parameter of the collection's list route
                route = v2["paths"][obj.api["collection"][len("/api/v2") :]]["get"]
                names = {p.get("name") or v2["components"]["parameters"][p["$ref"].rsplit("/", 1)[1]]["name"] for p in route["parameters"]}
                assert path in names, (obj.name, path)
                continue
            if path.startswith("/api/v2"):
                assert path[len("/api/v2") :] in v2["paths"], path
            else:
                assert path.startswith("/v1/") and path[len("/v1") :] in v1["paths"], path
    for f in pd.object("Deal").fields:
        if f.lookup:
            assert f.lookup.path[len("/api/v2") :] in v2["paths"]


# ---------------------------------------------------------------------------------------------
# facts the checks rely on
# ---------------------------------------------------------------------------------------------


def test_relations(pd, ap):
    person = pd.object("Person")
    assert (person.relation("organization").target, person.relation("organization").key) == ("Organization", "org_id")
    assert (person.relation("owner").target, person.relation("owner").key) == ("User", "owner_id")
    assert pd.object("Deal").relation("person").key == "person_id"
    assert pd.object("Activity").relation("person").key == "person_id"
    persons = pd.object("Organization").relation("persons")
    assert persons.cardinality == "many" and persons.key_on == "target" and persons.key == "org_id"
    assert ap.object("Activity").relation("contact").target == "Contact"


def test_multi_fields_and_mapping_facing_names(pd):
    person = pd.object("Person")
    email, phone = person.field("email"), person.field("phone")
    assert (email.api_name, phone.api_name) == ("emails", "phones")
    assert email.multi.default == "primary" and "work" in email.multi.selectors
    assert "mobile" in phone.multi.selectors and "mobile" not in email.multi.selectors
    assert person.field("emails") is None  # the API name is not a mapping name
    assert person.field_by_api("emails") is email


def test_read_only_and_write_via(pd):
    act = pd.object("Activity")
    assert act.field("marked_as_done_time").read_only
    assert act.field("marked_as_done_time").write_via.field == "done"
    first = pd.object("Person").field("first_name")
    assert first.read_only and first.settable and first.write_via.field == "name" and first.unverified
    assert pd.object("Person").field("add_time").access == "create_only"
    assert not pd.object("Person").field("update_time").writable


def test_sync_permissions_differ_from_action_capabilities(pd):
    assert not pd.object("Deal").permissions.create
    assert not pd.object("Activity").permissions.update
    assert not any(pd.object("User").permissions.allows(op) for op in ("create", "update", "delete"))
    assert not any(o.permissions.delete for o in pd.objects)
    creates = {a.name: a.creates_person_if_missing for a in pd.actions}
    assert creates == {
        "Add Deal": True,
        "Assign Person Owner": True,
        "Schedule Activity": True,
        "Update Pipedrive Field": False,
        "Update Deal Stage": False,
    }
    assert pd.action("Add Deal").operation == "create" and pd.action("Add Deal").target == "Deal"
    assert pd.action("Update Deal Stage").fields == ("stage_id",)


def test_seed_notes_are_machine_checkable_rules(pd):
    (flt,) = pd.rules_of("sync_out_filter", object="Activity")
    assert dict(flt["where"]) == {"field": "done", "equals": True}
    (types,) = pd.rules_of("allowed_values", object="Activity")
    assert [v["value"] for v in types["values"]] == ["call", "meeting", "task", "deadline", "email", "lunch"]
    assert [v["label"] for v in types["values"]] == ["Call", "Meeting", "Task", "Deadline", "Email", "Lunch"]
    assert types["allow_blank"] and types["applies_to"] == "default"
    assert pd.rules_of("pairing_requires", object="Deal")[0]["field"] == "expected_close_date"
    ref = pd.rules_of("references", object="Person")[0]
    assert (ref["field"], ref["references"], ref["exact"]) == ("owner_id", "User.id", True)
    assert tuple(pd.rules_of("unsplittable", object="Person")[0]["path"]) == ("owner", "name")
    assert pd.object("User").field("name").unsplittable
    rel = pd.rules_of("requires_relation", object="Activity")[0]
    assert (rel["relation"], rel["order"]) == ("person", "source_to_destination")
    ident = pd.rules_of("dedupe_identity", object="Activity")[0]
    assert (ident["field"], ident["partner_label"]) == ("marked_as_done_time", "Occurred At")
    assert pd.rules_of("one_to_many_discouraged")[0].severity == "warning"
    covered = {r for c in (pd, load_catalog("autopilot")) for rule in c.rules for r in rule.r}
    assert {"R2", "R6", "R7", "R9", "R10", "R11", "R13", "R15", "R16", "R17", "R18", "R19", "R20", "R21", "R22", "R23"} <= covered


def test_identity_fields(pd, ap):
    assert pd.object("Person").identity.key == "id"
    assert ap.object("Contact").identity.key == "contact_id"
    assert ap.object("Contact").identity.dedupe == ("Email",)
    assert pd.object("Activity").identity.occurred_at == "marked_as_done_time"
    assert ap.object("Activity").identity.occurred_at == "occurred_at"
    assert ap.object("Activity").field("occurred_at").label == "Occurred At"


def test_autopilot_contact(ap):
    contact = ap.object("Contact")
    assert contact.permissions.allowed() == ("read", "create", "update", "delete")
    for name in ("contact_id", "created_at", "updated_at", "Name", "type", "lists"):
        assert contact.field(name).read_only, name
    assert contact.field("owner_name").unsplittable and contact.field("owner_name").writable
    assert contact.field("unsubscribed").type == "boolean"
    assert contact.field("firstname") is None  # names are case-sensitive
    derived = ap.object("Activity").derived
    assert derived.source_object == "Contact" and "mail_opened" in derived.keys
    assert not any(ap.object("Activity").permissions.allows(op) for op in ("create", "update", "delete"))
    assert ap.rules_of("inbound_scope_list")[0]["list"] == "Pipedrive Contacts"
    assert not ap.action("Add to Journey").idempotent


def test_custom_field_styles(pd, ap):
    assert ap.custom_field_style.key_for("Lead Score", "integer") == "integer--Lead--Score"
    assert ap.custom_field_style.key_for("Rating", "number") == "float--Rating"
    assert ap.custom_field_style.key_for("Owner", "user") is None
    assert ap.custom_field_style.allowed_types == ("string", "integer", "number", "boolean", "date")
    assert pd.custom_field_style.key_for("Lead score", "integer") is None  # hash keys: run time
    native = pd.custom_field_style.native_types
    assert (native["varchar"], native["double"], native["int"]) == ("string", "number", "integer")
    assert re.fullmatch(pd.custom_field_style.key_pattern, "9dc80c50d78a15643bfc4ca79d76156a73a1ca0e")


# ---------------------------------------------------------------------------------------------
# paths, suggestions, dependency order
# ---------------------------------------------------------------------------------------------


def test_resolve_good_paths(pd, ap):
    p = resolve_path(pd, "Person", ["organization", "name"])
    assert p.ok and p.field.name == "name" and p.end_object == "Organization" and p.cardinality == "one"
    assert [h.name for h in p.hops] == ["organization"]
    p = resolve_path(pd, "Person", ["email", "primary"])
    assert p.ok and p.field.api_name == "emails" and p.selector == "primary"
    assert resolve_path(pd, "Person", ["email"]).effective_selector == "primary"
    p = resolve_path(pd, "Activity", ["person", "owner", "name"])
    assert p.ok and p.end_object == "User" and p.field.unsplittable
    p = resolve_path(pd, "Organization", ["persons", "email", "primary"])
    assert p.ok and p.cardinality == "many" and [h.name for h in p.to_many_hops] == ["persons"]
    p = resolve_path(pd, "Deal", ["person"])
    assert p.ok and p.ends_at_relation and p.end_object == "Person"
    assert resolve_path(pd, "Deal", ["stage"]).field.name == "stage_id"
    assert resolve_path(ap, "Activity", ["contact", "Email"]).ok


@pytest.mark.parametrize(
    ("start", "path", "kind", "index", "suggestion"),
    [
        ("Person", ["organisation", "name"], "unknown_name", 0, "organization"),
        ("Person", ["organization", "nme"], "unknown_name", 1, "name"),
        ("Person", ["name", "first"], "not_a_relation", 1, None),
        ("Person", ["email", "mobile"], "unknown_selector", 1, None),
        ("Person", ["phone", "mobil"], "unknown_selector", 1, "mobile"),
        ("Person", ["email", "primary", "x"], "too_long", 2, None),
        ("Person", ["label_ids", "primary"], "not_multi", 1, None),
        ("Persn", ["name"], "unknown_object", -1, "Person"),
        ("Person", [], "empty", 0, None),
    ],
)
def test_resolve_bad_paths(pd, start, path, kind, index, suggestion):
    p = resolve_path(pd, start, path)
    assert not p.ok and p.field is None
    assert (p.error.kind, p.error.index, p.error.suggestion) == (kind, index, suggestion)
    assert p.error.message


def test_resolve_error_lists_the_names_there(pd, ap):
    err = resolve_path(pd, "Person", ["organization", "nme"]).error
    assert err.object == "Organization" and "name" in err.candidates and "persons" in err.candidates
    err = resolve_path(ap, "Contact", ["FirstNme"]).error
    assert err.suggestion == "FirstName" and err.message == "Contact has no field or relation `FirstNme`"


def test_suggest():
    assert suggest("FirstNme", ["FirstName", "LastName"]) == "FirstName"
    assert suggest("firstname", ["FirstName", "LastName"]) == "FirstName"
    assert suggest("zzz", ["FirstName"]) is None
    assert suggest("FirstName", ["FirstName"]) is None


def test_dependency_order_is_derived_from_relations(pd, ap):
    assert dependency_order(pd) == ["User", "Organization", "Person", "Deal", "Activity"]
    assert dependency_order(pd, objects=["Activity", "Person", "Deal"]) == ["Person", "Deal", "Activity"]
    assert dependency_order(ap).index("Contact") < dependency_order(ap).index("Activity")
    with pytest.raises(DependencyCycleError) as info:
        dependency_order(pd, extra_edges={"User": ["Activity"]})
    chain = info.value.chain
    assert chain[0] == chain[-1] and {"User", "Activity"} <= set(chain)


def test_dependency_order_does_not_depend_on_declaration_order(tmp_path):
    def reverse(d):
        d["objects"] = dict(reversed(list(d["objects"].items())))

    _copy_catalog(tmp_path, "pipedrive", reverse)
    reversed_pd = load_catalog("pipedrive", search_path=tmp_path)
    assert reversed_pd.object_names()[0] == "Activity"
    assert dependency_order(reversed_pd) == ["User", "Organization", "Person", "Deal", "Activity"]


@pytest.mark.parametrize("system", sorted(cat.shipped_catalog_texts()))
def test_shipped_catalog_follows_the_schema(system: str) -> None:
    # The run time skips the schema for the shipped catalogs: this test is their validation.
    assert cat.schema_problems(json.loads(cat.shipped_catalog_texts()[system])) == []


def test_a_user_catalog_breaking_the_schema_is_refused_on_every_load(tmp_path: Path) -> None:
    data = json.loads(cat.shipped_catalog_texts()["pipedrive"])
    data["objects"]["Person"]["permissions"] = "everything"
    (tmp_path / "pipedrive.json").write_text(json.dumps(data))
    for _ in range(2):
        cat.clear_cache()
        with pytest.raises(CatalogError):
            load_catalog("pipedrive", search_path=tmp_path)


def test_loading_the_shipped_catalogs_never_imports_jsonschema() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from syncmap.compiler.catalog import load_catalog; "
        "load_catalog('pipedrive'); load_catalog('autopilot'); print('jsonschema' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
