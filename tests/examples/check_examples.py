"""Checks that the Envoy, Istio and Compose examples have the shape that
authd's defaults need. Docker and Envoy are not available where the suite
runs, so this is a structural check of the YAML, not a run.

Usage: check_examples.py REPO_ROOT GRPC_PORT HTTP_PORT JWKS_PATH ISSUER AUDIENCE
Prints "ok" and exits 0, or fails with an assertion naming what is wrong.
"""

import pathlib
import re
import sys

import yaml


def http_filters(config):
    (listener,) = config["static_resources"]["listeners"]
    (chain,) = listener["filter_chains"]
    (hcm,) = chain["filters"]
    assert hcm["name"] == "envoy.filters.network.http_connection_manager"
    filters = hcm["typed_config"]["http_filters"]
    assert filters[-1]["name"] == "envoy.filters.http.router", "the router must be last"
    return filters


def cluster(config, name):
    found = [c for c in config["static_resources"]["clusters"] if c["name"] == name]
    assert found, f"no cluster {name}"
    return found[0]


def port_of(c):
    endpoint = c["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
    return endpoint["address"]["socket_address"]["port_value"]


def main():
    root, grpc_port, http_port, jwks_path, issuer, audience = sys.argv[1:7]
    root = pathlib.Path(root)
    grpc_port, http_port = int(grpc_port), int(http_port)

    ext = yaml.safe_load((root / "examples/envoy/envoy-ext-authz.yaml").read_text())
    (authz,) = [f for f in http_filters(ext) if f["name"] == "envoy.filters.http.ext_authz"]
    tc = authz["typed_config"]
    assert tc["@type"].endswith("envoy.extensions.filters.http.ext_authz.v3.ExtAuthz")
    assert tc["transport_api_version"] == "V3"
    assert tc["failure_mode_allow"] is False, "ext_authz must fail closed"
    authd = cluster(ext, tc["grpc_service"]["envoy_grpc"]["cluster_name"])
    assert port_of(authd) == grpc_port
    options = authd["typed_extension_protocol_options"][
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
    ]
    assert "http2_protocol_options" in options["explicit_http_config"], "gRPC needs HTTP/2"
    (hcm,) = [
        f["typed_config"]
        for listener in ext["static_resources"]["listeners"]
        for chain in listener["filter_chains"]
        for f in chain["filters"]
        if f["name"] == "envoy.filters.network.http_connection_manager"
    ]
    assert (
        hcm["common_http_protocol_options"]["headers_with_underscores_action"] == "REJECT_REQUEST"
    ), "x_authd_* headers from clients must be refused"

    jwt = yaml.safe_load((root / "examples/envoy/envoy-jwt-authn.yaml").read_text())
    (authn,) = [f for f in http_filters(jwt) if f["name"] == "envoy.filters.http.jwt_authn"]
    tc = authn["typed_config"]
    assert tc["@type"].endswith("envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication")
    providers = tc["providers"]
    (provider_name,) = providers
    provider = providers[provider_name]
    assert provider["issuer"] == issuer
    assert audience in provider["audiences"]
    uri = provider["remote_jwks"]["http_uri"]
    assert uri["uri"].endswith(f":{http_port}{jwks_path}"), uri["uri"]
    assert port_of(cluster(jwt, uri["cluster"])) == http_port
    assert any(r["requires"]["provider_name"] == provider_name for r in tc["rules"])

    compose = yaml.safe_load((root / "docker-compose.yml").read_text())
    services = compose["services"]
    mounted = set()
    for name in ("envoy-ext-authz", "envoy-jwt-authn"):
        service = services[name]
        assert service["profiles"] == ["envoy"], f"{name} is an optional profile"
        for volume in service["volumes"]:
            source = volume.split(":")[0]
            assert (root / source).is_file(), f"{name} mounts a missing {source}"
            mounted.add(pathlib.Path(source).name)
    assert mounted == {"envoy-ext-authz.yaml", "envoy-jwt-authn.yaml"}
    assert "profiles" not in services["authd"], "authd itself is not optional"
    assert services["authd"]["environment"]["AUTHD_HTTP_LISTEN"].endswith(f":{http_port}")

    istio = (root / "docs/istio.md").read_text()
    docs = [
        d
        for block in re.findall(r"```yaml\n(.*?)```", istio, re.S)
        for d in yaml.safe_load_all(block)
        if d
    ]
    (mesh,) = [d for d in docs if "meshConfig" in d]
    (ext_provider,) = mesh["meshConfig"]["extensionProviders"]
    assert ext_provider["envoyExtAuthzGrpc"]["port"] == grpc_port
    assert ext_provider["envoyExtAuthzGrpc"]["failOpen"] is False
    custom = [d for d in docs if d.get("kind") == "AuthorizationPolicy" and d["spec"]["action"] == "CUSTOM"]
    assert custom and custom[0]["spec"]["provider"]["name"] == ext_provider["name"]
    (request_authn,) = [d for d in docs if d.get("kind") == "RequestAuthentication"]
    (rule,) = request_authn["spec"]["jwtRules"]
    assert rule["issuer"] == issuer
    assert audience in rule["audiences"]
    assert rule["jwksUri"].endswith(f":{http_port}{jwks_path}"), rule["jwksUri"]
    print("ok")


if __name__ == "__main__":
    main()
