"""Drives latchkey with hvac, the Python Vault client, as a Vault user would.

Reads LATCHKEY_ADDR and LATCHKEY_TOKEN (a root token), runs each step in order
and prints one JSON object: step name -> {"ok": result} or {"error": {...}},
so that test/compat/hvac.test.ts asserts on every step even when an earlier
one failed. Steps that need an earlier result read it from `results`.
"""

import json
import os
import sys

try:
    import hvac
    from hvac import exceptions
except ImportError as err:
    print(json.dumps({"import_error": str(err)}))
    sys.exit(3)

ADDR = os.environ["LATCHKEY_ADDR"]
ROOT = os.environ["LATCHKEY_TOKEN"]

results = {}


def as_json(value):
    """hvac returns a dict for a 200 with a JSON body and the requests.Response otherwise (204, HEAD)."""
    if isinstance(value, list):
        return [as_json(v) for v in value]
    if isinstance(value, dict) or value is None:
        return value
    if hasattr(value, "status_code"):
        return {"status": value.status_code, "body": value.text}
    return value


def step(name):
    def run(fn):
        try:
            results[name] = {"ok": as_json(fn())}
        except exceptions.VaultError as err:
            results[name] = {"error": {"type": type(err).__name__, "errors": err.errors, "message": str(err.args[0])}}
        except Exception as err:  # a client-side failure (a response hvac could not read) is a result too
            results[name] = {"error": {"type": type(err).__name__, "message": str(err)}}
        return fn

    return run


def ok(name):
    return results.get(name, {}).get("ok")


client = hvac.Client(url=ADDR, token=ROOT)


@step("is_authenticated")
def _():
    return client.is_authenticated()


# --- mounts ---------------------------------------------------------------


@step("enable_kv1")
def _():
    # hvac sends description, config, options and plugin_name as null when not given.
    return client.sys.enable_secrets_engine("kv", path="kv1")


@step("list_mounted_secrets_engines")
def _():
    mounts = client.sys.list_mounted_secrets_engines()
    # Vault returns the table both at the top level and under `data`.
    return {
        "top": {k: {"type": v.get("type"), "options": v.get("options")} for k, v in mounts.items() if k.endswith("/")},
        "data": {k: {"type": v.get("type"), "options": v.get("options")} for k, v in mounts.get("data", {}).items()},
    }


# --- KV version 1 -----------------------------------------------------------

kv1 = client.secrets.kv.v1


@step("kv1_create")
def _():
    return kv1.create_or_update_secret(path="team/app", secret={"user": "svc", "password": "pw-1"}, mount_point="kv1")


@step("kv1_read")
def _():
    return kv1.read_secret(path="team/app", mount_point="kv1")


@step("kv1_list")
def _():
    return kv1.list_secrets(path="team", mount_point="kv1")


@step("kv1_delete")
def _():
    return kv1.delete_secret(path="team/app", mount_point="kv1")


@step("kv1_read_deleted")
def _():
    return kv1.read_secret(path="team/app", mount_point="kv1")


# --- KV version 2 -----------------------------------------------------------

kv2 = client.secrets.kv.v2


@step("kv2_create_v1")
def _():
    return kv2.create_or_update_secret(path="team/app", secret={"user": "svc", "password": "pw-1"}, mount_point="secret")


@step("kv2_create_v2")
def _():
    return kv2.create_or_update_secret(path="team/app", secret={"user": "svc", "password": "pw-2"}, cas=1, mount_point="secret")


@step("kv2_create_cas_mismatch")
def _():
    return kv2.create_or_update_secret(path="team/app", secret={"user": "x"}, cas=1, mount_point="secret")


@step("kv2_read_latest")
def _():
    return kv2.read_secret_version(path="team/app", mount_point="secret")


@step("kv2_read_version_1")
def _():
    return kv2.read_secret_version(path="team/app", version=1, mount_point="secret")


@step("kv2_list")
def _():
    return kv2.list_secrets(path="team", mount_point="secret")


@step("kv2_read_metadata")
def _():
    return kv2.read_secret_metadata(path="team/app", mount_point="secret")


@step("kv2_delete_metadata_and_all_versions")
def _():
    return kv2.delete_metadata_and_all_versions(path="team/app", mount_point="secret")


@step("kv2_read_deleted")
def _():
    return kv2.read_secret_version(path="team/app", mount_point="secret")


# --- tokens -----------------------------------------------------------------


@step("token_create")
def _():
    return client.auth.token.create(policies=["default"], ttl="1h", meta={"team": "a"}, display_name="compat")


child = hvac.Client(url=ADDR, token=(ok("token_create") or {}).get("auth", {}).get("client_token"))


@step("token_lookup_self")
def _():
    return child.auth.token.lookup_self()


@step("token_renew_self")
def _():
    return child.auth.token.renew_self(increment="2h")


@step("token_revoke_self")
def _():
    return child.auth.token.revoke_self()


@step("token_lookup_self_revoked")
def _():
    return child.auth.token.lookup_self()


# --- policies -----------------------------------------------------------------

POLICY = 'path "secret/data/team/*" {\n  capabilities = ["read", "list"]\n}\n'


@step("policy_create")
def _():
    return client.sys.create_or_update_policy(name="compat-reader", policy=POLICY)


@step("policy_read")
def _():
    return client.sys.read_policy(name="compat-reader")


@step("policy_list")
def _():
    return client.sys.list_policies()


@step("policy_delete")
def _():
    return client.sys.delete_policy(name="compat-reader")


@step("policy_list_after_delete")
def _():
    return client.sys.list_policies()


# --- health and seal status -------------------------------------------------


@step("health_get")
def _():
    return client.sys.read_health_status(method="GET")


@step("health_head")
def _():
    return client.sys.read_health_status()


@step("health_get_activecode")
def _():
    # A non-200 code comes back as the Response, whose status the test reads.
    return client.sys.read_health_status(method="GET", active_code=299)


@step("seal_status")
def _():
    return client.sys.read_seal_status()


@step("is_sealed")
def _():
    return client.sys.is_sealed()


# --- response wrapping --------------------------------------------------------


@step("wrap_token_create")
def _():
    return client.auth.token.create(policies=["default"], ttl="1h", wrap_ttl="5m")


wrapping_token = ((ok("wrap_token_create") or {}).get("wrap_info") or {}).get("token")


@step("wrap_lookup")
def _():
    return client.adapter.post("/v1/sys/wrapping/lookup", json={"token": wrapping_token})


@step("unwrap")
def _():
    return client.sys.unwrap(token=wrapping_token)


@step("unwrap_again")
def _():
    return client.sys.unwrap(token=wrapping_token)


@step("wrap_kv2_write")
def _():
    return kv2.create_or_update_secret(path="wrapped/app", secret={"k": "v"}, mount_point="secret")


@step("wrap_kv2_read")
def _():
    # hvac's adapter turns wrap_ttl into the X-Vault-Wrap-TTL header.
    return client.adapter.get("/v1/secret/data/wrapped/app", wrap_ttl="60s")


@step("unwrap_as_client_token")
def _():
    # Vault's documented form: the wrapping token is the request's own token.
    token = ((ok("wrap_kv2_read") or {}).get("wrap_info") or {}).get("token")
    return hvac.Client(url=ADDR, token=token).sys.unwrap()


# --- leases -------------------------------------------------------------------


@step("lease_token_create")
def _():
    return client.auth.token.create(policies=["default"], ttl="1h")


leased = hvac.Client(url=ADDR, token=(ok("lease_token_create") or {}).get("auth", {}).get("client_token"))


@step("lease_list")
def _():
    return client.sys.list_leases(prefix="auth/token/create")


def token_lease_ids():
    """The leases of the live tokens created through auth/token/create, lease_token_create's among them."""
    keys = ((ok("lease_list") or {}).get("data") or {}).get("keys") or []
    return ["auth/token/create/" + k for k in keys]


@step("lease_read")
def _():
    return [client.sys.read_lease(lease_id=i) for i in token_lease_ids()]


@step("lease_renew_token_lease")
def _():
    ids = token_lease_ids()
    return client.sys.renew_lease(lease_id=ids[0] if ids else "auth/token/create/none", increment=600)


@step("lease_revoke")
def _():
    return [client.sys.revoke_lease(lease_id=i) for i in token_lease_ids()]


@step("lease_revoked_token_lookup")
def _():
    return leased.auth.token.lookup_self()


@step("lease_revoke_unknown")
def _():
    return client.sys.revoke_lease(lease_id="secret/none/such-lease")


# --- errors -------------------------------------------------------------------


@step("denied")
def _():
    return hvac.Client(url=ADDR, token="lks.not-a-token").secrets.kv.v2.read_secret_version(path="team/app")


print(json.dumps(results))
