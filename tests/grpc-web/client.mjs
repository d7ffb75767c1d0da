// A real gRPC-Web client against authd: Connect's gRPC-Web transport for
// Node (@connectrpc/connect-node), with the message types read at run time
// from authd's own descriptor set (@bufbuild/protobuf's registry), so there
// is no generated code to keep in step with proto/.
//
//   AUTHD_TEST_PASSWORD=... node client.mjs --url http://127.0.0.1:PORT \
//     --descriptors auth_v1.binpb --username alice [--http 2] \
//     [--origin https://app.example.com] [--oversized 70000]
//
// It logs in, verifies the token, reads the user with and without the
// bearer token, tries a wrong password and (with --oversized) a request
// bigger than the message limit, and prints one JSON object with what each
// step answered. No token or password is printed. tests/api/grpc_web.rs
// runs it and checks the answers.

import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

import { createFileRegistry, fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-node";

const { values: args } = parseArgs({
  options: {
    url: { type: "string" },
    descriptors: { type: "string" },
    username: { type: "string" },
    http: { type: "string", default: "1.1" },
    origin: { type: "string" },
    oversized: { type: "string" },
  },
});
const password = process.env.AUTHD_TEST_PASSWORD;
if (!args.url || !args.descriptors || !args.username || password === undefined) {
  console.error("usage: AUTHD_TEST_PASSWORD=... node client.mjs --url URL --descriptors FILE --username NAME");
  process.exit(2);
}

const registry = createFileRegistry(
  fromBinary(FileDescriptorSetSchema, readFileSync(args.descriptors)),
);
const service = registry.getService("auth.v1.AuthService");
if (!service) {
  console.error("auth.v1.AuthService is not in the descriptor set");
  process.exit(2);
}
const transport = createGrpcWebTransport({
  baseUrl: args.url,
  httpVersion: args.http === "2" ? "2" : "1.1",
  // Sent as `grpc-timeout`; also bounds the run.
  defaultTimeoutMs: 30_000,
});
const client = createClient(service, transport);

// Every call carries the Origin a browser page would send, when given.
const originHeader = args.origin ? { origin: args.origin } : {};
const headersOf = (extra = {}) => ({ ...originHeader, ...extra });

/// The code and message of a refused call (never its metadata).
function refusal(error) {
  if (!(error instanceof ConnectError)) throw error;
  return { code: error.code, codeName: Code[error.code], message: error.rawMessage };
}

async function attempt(call) {
  try {
    return { ok: true, ...(await call()) };
  } catch (error) {
    return { ok: false, ...refusal(error) };
  }
}

const results = {};
let accessToken = "";
results.login = await attempt(async () => {
  const answer = {};
  const response = await client.login(
    { username: args.username, password },
    {
      headers: headersOf(),
      onHeader: (headers) => {
        answer.allowOrigin = headers.get("access-control-allow-origin");
        answer.exposeHeaders = headers.get("access-control-expose-headers");
      },
    },
  );
  accessToken = response.accessToken;
  return {
    ...answer,
    tokenType: response.tokenType,
    expiresIn: Number(response.expiresIn),
    hasAccessToken: response.accessToken.length > 0,
    hasRefreshToken: response.refreshToken.length > 0,
    sessionId: response.sessionId,
  };
});
results.verify = await attempt(async () => {
  const response = await client.verify({ token: accessToken }, { headers: headersOf() });
  return { valid: response.valid, username: response.user?.username ?? null };
});
results.getUser = await attempt(async () => {
  const response = await client.getUser(
    { selector: { case: "username", value: args.username } },
    { headers: headersOf({ authorization: `Bearer ${accessToken}` }) },
  );
  return { username: response.user?.username ?? null, roles: response.user?.roles ?? [] };
});
results.getUserWithoutToken = await attempt(async () => {
  await client.getUser(
    { selector: { case: "username", value: args.username } },
    { headers: headersOf() },
  );
  return {};
});
results.wrongPassword = await attempt(async () => {
  await client.login(
    { username: args.username, password: `${password}-wrong` },
    { headers: headersOf() },
  );
  return {};
});
if (args.oversized) {
  results.oversized = await attempt(async () => {
    await client.login(
      { username: "x".repeat(Number(args.oversized)), password: "irrelevant" },
      { headers: headersOf() },
    );
    return {};
  });
}

console.log(JSON.stringify(results));
