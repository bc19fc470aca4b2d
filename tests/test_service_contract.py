"""The OpenAPI contract is the truth: what the schema allows is accepted, what it refuses is refused, and every
answer is one the schema documents.

* The schema states every bound (:func:`test_the_schema_states_every_pattern_and_bound`): names, symbols and
  decimals carry the service's patterns (the same rule as :func:`ramparts.domain.accounts.check_name`,
  :func:`ramparts.domain.assets.check_symbol` and :func:`ramparts.fixedpoint.to_decimal`), every integer a
  minimum and a maximum, every string a maxLength, every array a maxItems, every route its statuses.
* schemathesis' checks (``not_a_server_error``, ``status_code_conformance``, ``content_type_conformance``,
  ``response_schema_conformance``, ``negative_data_rejection``, ``positive_data_acceptance``) over every
  operation, positive and negative data, with a key of **every role** (drawn per case, half the time among
  the roles the route admits so that the engine is reached): :func:`test_every_operation_keeps_the_contract`.
  A schema-valid request may still be refused by the venue's state (404 unknown, 409 a rule, 425/429/503
  retry later), never as malformed (400, 413 or 422).
* Stateful: the schema's links (a trader's custody request -> get / confirm / reject / cancel, a new key ->
  revoke, a new instrument -> its ADL ranking) followed by schemathesis' state machine, each step with a key
  of a role the operation admits.
* ``OPTIONS`` lists the documented methods (GET where GET is documented), any other method is a 405 with the
  same ``Allow``.

schemathesis is driven through its Python API with plain hypothesis (its pytest plugin's hooks break with new
pytest releases), in process over ASGI. Figures (requests, statuses per generation mode) are printed.
"""

from __future__ import annotations

import re
import warnings
from collections import Counter

import pytest

schemathesis = pytest.importorskip("schemathesis")
pytest.importorskip("fastapi")

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from ramparts.service import models as m  # noqa: E402
from ramparts.service.app import create_app  # noqa: E402
from ramparts.service.auth import PERMISSIONS, ROLES  # noqa: E402
from service_kit import make_keys, setup_venue  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

#: Statuses a schema-valid request may get: success, or a refusal by the venue's state (never 400, 413, 422).
POSITIVE_OK = ["2xx", "401", "403", "404", "409", "425", "429", "503"]
EXAMPLES = 12  # per operation and generation mode (more under -m slow)


def _checks():
    from schemathesis import checks as base
    from schemathesis.specs.openapi import checks as oas

    return [base.not_a_server_error, oas.status_code_conformance, oas.content_type_conformance,
            oas.response_schema_conformance, oas.negative_data_rejection, oas.positive_data_acceptance]


def _api_routes(routes):
    """Every APIRoute, also those of included routers (FastAPI keeps an included router whole)."""
    from fastapi.routing import APIRoute

    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _api_routes(inner.routes)
        elif isinstance(route, APIRoute):
            yield route


def _actions(route) -> set[str]:
    """The actions (``need_<action>`` dependencies) a route requires."""
    out, todo = set(), [route.dependant]
    while todo:
        dep = todo.pop()
        name = getattr(dep.call, "__name__", "") if dep.call is not None else ""
        if name.startswith("need_"):
            out.add(name[len("need_"):])
        todo.extend(dep.dependencies)
    return out


@pytest.fixture
def contract(tmp_path):
    """A venue with positions behind the app, reached in process over ASGI. One per test: schemathesis' pytest
    plugin ends every ASGI lifespan after each test, and a stopped service does not start again."""
    from schemathesis.python import asgi

    tmp = tmp_path
    app = create_app(str(tmp / "journal.sqlite"), rate_limit=(0, 0), custody_cap="100000", durability="normal")
    keys = make_keys(app.state.svc.keys)
    config = schemathesis.Config.from_dict({"checks": {"positive_data_acceptance": {"expected-statuses": POSITIVE_OK}}})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config)
    client = asgi.get_client(app)  # the app's lifespan runs until the test ends (schemathesis keeps it)
    with client as c:
        setup_venue(c, keys)
        r = c.post("/v1/fills", json={"fills": [{"instrument": "BTC-PERP", "buyer": "alice/main", "seller": "bob/main",
                                                 "price": "50000", "size": "0.1"}]}, headers=keys.h("matcher"))
        assert r.status_code == 200, r.text
    role_key = {role: next(name for name in keys.tokens if _role_of(name) == role) for role in ROLES}
    allowed: dict[tuple[str, str], list[str]] = {}
    for route in _api_routes(app.routes):
        if route.include_in_schema:
            actions = _actions(route)
            roles = sorted(set.intersection(*(set(PERMISSIONS[a]) for a in actions))) if actions else list(ROLES)
            for method in route.methods:
                allowed[(method.upper(), route.path)] = roles or list(ROLES)
    assert len(allowed) >= 30 and allowed[("POST", "/v1/custody/requests")] == ["trader"]
    yield {"app": app, "schema": schema, "keys": keys, "role_key": role_key, "allowed": allowed}
    asgi.shutdown_lifespans()


def test_every_bound_is_stated_exactly():
    """FastAPI writes ``minimum``/``maximum`` as floats: a bound no float64 holds exactly (2**63 - 1 becomes 2**63)
    would state a limit the service does not keep."""
    import inspect

    from pydantic import BaseModel

    bounds = []
    for _, model in inspect.getmembers(m, lambda x: isinstance(x, type) and issubclass(x, BaseModel) and x.__module__ == m.__name__):
        nodes: list[tuple[str, dict]] = []
        _walk(model.model_json_schema(), model.__name__, nodes)
        bounds += [(where, node[k]) for where, node in nodes for k in ("minimum", "maximum") if k in node]
    assert len(bounds) > 20
    for where, b in bounds:
        assert isinstance(b, int) and int(float(b)) == b, (where, b)


def _role_of(name: str) -> str:
    return {"risk": "risk_officer", "alice": "trader", "bob": "trader"}.get(name, name)


def _walk(node, path: str, out: list[tuple[str, dict]]) -> None:
    if isinstance(node, dict):
        out.append((path, node))
        for k, v in node.items():
            if k not in ("examples", "example", "default", "const", "enum"):
                _walk(v, f"{path}/{k}", out)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _walk(v, f"{path}/{i}", out)


def _deref(node, components):
    if isinstance(node, dict):
        if "$ref" in node:
            return _deref(components[node["$ref"].rsplit("/", 1)[1]], components)
        return {k: _deref(v, components) for k, v in node.items()}
    if isinstance(node, list):
        return [_deref(x, components) for x in node]
    return node


KEYWORDS = {"type", "properties", "required", "additionalProperties", "items", "anyOf", "oneOf", "allOf", "enum", "const",
            "pattern", "minLength", "maxLength", "minimum", "maximum", "minItems", "maxItems", "default", "description",
            "title", "examples", "format"}


def test_the_schema_states_every_pattern_and_bound(contract):
    spec = contract["app"].openapi()
    components = spec["components"]["schemas"]
    nodes: list[tuple[str, dict]] = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            codes = set(op["responses"])
            assert {"400", "401", "403", "404", "409", "422", "429", "503"} <= codes, (method, path, codes)
            if "requestBody" in op:
                assert "413" in codes, (method, path)
                _walk(_deref(op["requestBody"]["content"]["application/json"]["schema"], components), f"{method} {path} body", nodes)
            for prm in op.get("parameters", []):
                if prm["in"] in ("path", "query"):
                    _walk(_deref(prm["schema"], components), f"{method} {path} {prm['name']}", nodes)
    assert len(nodes) > 200
    for where, node in nodes:
        if where.endswith(("/properties", "value")) or "/properties/value" in where or "/properties/collateral" in where \
                or "/properties/margin" in where:
            continue  # a map of properties, or a free JSON value the engine checks (409)
        unknown = set(node) - KEYWORDS
        assert not unknown, (where, unknown)  # e.g. pydantic's "ge" / "le" left unstated
        t = node.get("type")
        if t == "integer":
            assert "minimum" in node and ("maximum" in node or node.get("format") == "int64"), where
        if t == "string" and "enum" not in node and "const" not in node:
            assert "maxLength" in node or "pattern" in node and re.search(r"\{0,\d+\}|\{\d+\}", node["pattern"]), where
        if t == "array":
            assert "maxItems" in node, where
    # the named patterns are the domain's own rules
    body = _deref(spec["paths"]["/v1/fills"]["post"]["requestBody"]["content"]["application/json"]["schema"], components)
    fill = body["properties"]["fills"]["items"]["properties"]
    assert fill["buyer"]["pattern"] == m.SUBACCOUNT and fill["instrument"]["pattern"] == m.SYMBOL
    assert fill["price"] == {**fill["price"], "type": "string", "pattern": m.POSITIVE_DECIMAL}
    assert fill["buyer_fee"]["pattern"] == m.NON_NEGATIVE_DECIMAL
    ts = fill["ts"]["anyOf"][0]
    assert (ts["minimum"], ts["format"], "maximum" in ts) == (0, "int64", False)  # exactly 2**63 - 1
    key = _deref(spec["paths"]["/v1/keys"]["post"]["requestBody"]["content"]["application/json"]["schema"], components)
    assert set(key["properties"]["role"]["enum"]) == set(ROLES) and len(key["oneOf"]) == 3


NAMES = ["a", "alice", "A.b_c:d@e-f", "x" * 64, "x" * 65, "", " a", "a ", "a\n", "-a", ".a", "a/b", "ålice", "a b", "\uff41",
         "a\x00", "BTC-PERP", "btc", "1", "_a", "a\u0663"]


@pytest.mark.parametrize("text", NAMES)
def test_the_name_patterns_are_the_domain_rules(text):
    from ramparts.domain.accounts import SubAccountId, check_name
    from ramparts.domain.assets import check_symbol
    from ramparts.errors import InvalidInput

    def ok(fn) -> bool:
        try:
            fn()
            return True
        except InvalidInput:
            return False

    assert bool(re.fullmatch(m.ACCOUNT, text)) == ok(lambda: check_name(text, "x"))
    assert bool(re.fullmatch(m.SYMBOL, text)) == ok(lambda: check_symbol(text, "x"))
    sub = f"{text}/main"
    assert bool(re.fullmatch(m.SUBACCOUNT, sub)) == ok(lambda: SubAccountId.parse(sub))


DECIMALS = ["1", "0.5", "0.000000000000000001", "1" * 40, "1" * 40 + "." + "9" * 18, "0", "0.0", "-1", "-0", "1e3", "1E+999999999",
            "1.", ".5", "01", "1_000", "\uff11", "\u0661", " 1", "1\n", "NaN", "Infinity", "0." + "0" * 18 + "1", "1" * 41, "+1"]


@pytest.mark.parametrize("text", DECIMALS)
def test_every_decimal_the_pattern_allows_is_one_the_engine_reads(text):
    """A string the positive/signed patterns allow is parsed by the engine's own rule (no hidden 422), exactly."""
    from decimal import Decimal

    from ramparts.fixedpoint import to_decimal

    for pattern, sign in ((m.POSITIVE_DECIMAL, 1), (m.NON_NEGATIVE_DECIMAL, 0), (m.SIGNED_DECIMAL, None)):
        if re.fullmatch(pattern, text):
            value = to_decimal(text, "x")
            assert value == Decimal(text)
            assert sign is None or (value > 0 if sign else value >= 0)
    assert bool(re.fullmatch(m.POSITIVE_DECIMAL, text)) == (text in ("1", "0.5", "0.000000000000000001", "1" * 40,
                                                                      "1" * 40 + "." + "9" * 18))


def test_every_operation_keeps_the_contract(contract, request):
    from schemathesis import GenerationMode

    schema, keys, role_key, allowed = contract["schema"], contract["keys"], contract["role_key"], contract["allowed"]
    examples = EXAMPLES * (4 if request.config.getoption("-m") and "slow" in request.config.getoption("-m") else 1)
    checks = _checks()
    operations = [r.ok() for r in schema.get_all_operations()]
    assert len(operations) >= 30, "the schema lost its operations"
    statuses: Counter = Counter()
    roles_seen: Counter = Counter()
    failures: dict[tuple[str, str], str] = {}
    for op in operations:
        permitted = allowed.get((op.method.upper(), op.path), list(ROLES))
        roles = st.one_of(st.sampled_from(permitted), st.sampled_from(ROLES))
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            def run(op=op, mode=mode, roles=roles):
                @settings(max_examples=examples, deadline=None, phases=[Phase.explicit, Phase.generate],
                          suppress_health_check=list(HealthCheck), database=None, derandomize=True)
                @given(case=op.as_strategy(generation_mode=mode), role=roles)
                def one(case, role):
                    headers = {"X-API-Key": keys.tokens[role_key[role]]}
                    response = case.call(headers=headers)
                    statuses[(mode.value, response.status_code)] += 1
                    roles_seen[role] += 1
                    try:
                        case.validate_response(response, headers=headers, checks=checks)
                    except BaseException as exc:  # noqa: BLE001 - collect every operation's failures, then report them all
                        if isinstance(exc, KeyboardInterrupt):
                            raise
                        failures.setdefault((op.label, mode.value), f"[{role}] {exc}"[:3000])

                one()

            run()
    total = sum(statuses.values())
    print(f"\ncontract: {total} requests over {len(operations)} operations; roles {dict(roles_seen)}")
    for mode in ("positive", "negative"):
        print(f"  {mode}: " + ", ".join(f"{code}: {n}" for (md, code), n in sorted(statuses.items()) if md == mode))
    assert not failures, "\n\n".join(f"{op} ({mode}):\n{text}" for (op, mode), text in failures.items())
    assert set(roles_seen) == set(ROLES)
    assert not any(code >= 500 for _, code in statuses)
    assert sum(n for (md, code), n in statuses.items() if md == "positive" and 200 <= code < 300) >= 30


def test_the_links_hold_statefully(contract):
    """schemathesis' state machine over the schema's links, every step with a key its operation admits."""
    from schemathesis.generation.stateful.state_machine import APIStateMachine

    schema, keys, role_key, allowed = contract["schema"], contract["keys"], contract["role_key"], contract["allowed"]
    checks = _checks()
    steps: Counter = Counter()
    failures: dict[tuple[str, str], str] = {}
    base = schema.as_state_machine()
    assert issubclass(base, APIStateMachine)

    class Machine(base):  # type: ignore[misc, valid-type]
        def before_call(self, case):
            # half of a trader's requests name its own sub-account, so that the links from them are followed
            if case.method.upper() == "POST" and case.operation.path == "/v1/custody/requests" and isinstance(case.body, dict) \
                    and len(steps) % 2 == 0:
                case.body = {**case.body, "subaccount": "alice/main", "asset": "USDC", "amount": "1"}

        def get_call_kwargs(self, case):
            roles = allowed.get((case.method.upper(), case.operation.path), list(ROLES))
            role = "trader" if "trader" in roles else roles[0]
            return {"headers": {"X-API-Key": keys.tokens[role_key[role]]}}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            steps[(case.method.upper(), case.operation.path, response.status_code)] += 1
            try:
                case.validate_response(response, checks=checks, headers=kwargs.get("headers"), transport_kwargs=kwargs)
            except BaseException as exc:  # noqa: BLE001 - reported below: a replay would meet another server state
                if isinstance(exc, KeyboardInterrupt):
                    raise
                failures.setdefault((case.method.upper(), case.operation.path), str(exc)[:3000])

    from hypothesis.errors import Flaky

    runs = Counter()
    for _ in range(6):  # the server's state (fresh ids) differs between hypothesis' replays: a Flaky run restarts,
        try:            # as schemathesis' own runner does
            Machine.run(settings=settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck),
                                          database=None, stateful_step_count=6))
            runs["completed"] += 1
        except Flaky:
            runs["restarted"] += 1
    followed = {(meth, path) for meth, path, _ in steps}
    print(f"\nstateful: {sum(steps.values())} steps over {len(followed)} operations, runs {dict(runs)}: {dict(steps)}")
    assert not failures, "\n\n".join(f"{meth} {path}:\n{text}" for (meth, path), text in failures.items())
    assert not any(code >= 500 for _, _, code in steps)
    assert runs["completed"] >= 1 and sum(steps.values()) >= 100
    assert steps[("GET", "/v1/custody/requests/{request_id}", 200)] + steps[("POST", "/v1/custody/requests/{request_id}/confirm", 201)] > 0
    assert ("POST", "/v1/custody/requests") in followed and ("DELETE", "/v1/keys/{key_id}") in followed


def test_options_lists_the_documented_methods(contract):
    from schemathesis.python import asgi

    spec = contract["app"].openapi()
    keys = contract["keys"]
    with asgi.get_client(contract["app"]) as c:
        for path, ops in spec["paths"].items():
            documented = {meth.upper() for meth in ops}
            concrete = re.sub(r"\{[^}]+\}", "x", path)
            r = c.options(concrete)
            assert r.status_code == 204, (path, r.status_code, r.text)
            allow = {x.strip() for x in r.headers["allow"].split(",")}
            assert allow == documented | {"OPTIONS"}, (path, allow)
            assert "GET" not in documented or "GET" in allow
            for method in {"GET", "POST", "PUT", "PATCH", "DELETE"} - documented:
                r = c.request(method, concrete, headers=keys.h("auditor"))
                assert r.status_code == 405, (method, path, r.status_code)
                assert {x.strip() for x in r.headers["allow"].split(",")} == allow and r.json()["error"] == "method_not_allowed"
        assert {x.strip() for x in c.options("/v1/subaccounts").headers["allow"].split(",")} == {"GET", "POST", "OPTIONS"}
