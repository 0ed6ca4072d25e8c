// Validates rendered Kubernetes manifests offline (run by .ci/k8s.sh).
//
//   node validate.mjs FILE...   (multi-document YAML, e.g. kustomize output)
//
// Built-in kinds are checked against the Kubernetes OpenAPI schemas shipped
// in the npm package kubernetes-models (types, required fields, enums), the
// KEDA ScaledObject against @kubernetes-models/keda, the Prometheus
// Operator's ServiceMonitor and PrometheusRule against
// @kubernetes-models/prometheus-operator, and NACK's Stream, Consumer,
// KeyValue and ObjectStore against the field lists of NACK's v1beta2 CRDs below. The
// worker's Deployment must also keep its hardening. Exits 1 on any problem.
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

const problems = [];
const bad = (where, msg) => problems.push(`${where}: ${msg}`);

// NACK jetstream.nats.io/v1beta2 spec fields (nats-io/nack deploy/crds).
const nack = {
  Stream: {
    required: ["name", "subjects", "storage", "replicas", "retention"],
    fields: {
      allowAtomicPublish: "boolean", allowDirect: "boolean", allowMsgCounter: "boolean",
      allowMsgSchedules: "boolean", allowMsgTtl: "boolean", allowRollup: "boolean",
      compression: "string", denyDelete: "boolean", denyPurge: "boolean", description: "string",
      discard: ["old", "new"], discardPerSubject: "boolean", duplicateWindow: "duration",
      firstSequence: "integer", maxAge: "duration", maxBytes: "integer", maxConsumers: "integer",
      maxMsgSize: "integer", maxMsgs: "integer", maxMsgsPerSubject: "integer", metadata: "object",
      mirror: "object", mirrorDirect: "boolean", name: "string", noAck: "boolean",
      persistMode: "string", placement: "object", replicas: "integer", republish: "object",
      retention: ["limits", "interest", "workqueue"], sealed: "boolean", sources: "array",
      storage: ["file", "memory"], subjectDeleteMarkerTtl: "duration", subjectTransform: "object",
      subjects: "array", consumerLimits: "object", account: "string", creds: "string",
      nkey: "string", servers: "array", tls: "object", preventDelete: "boolean", preventUpdate: "boolean",
    },
  },
  Consumer: {
    required: ["streamName", "durableName", "ackPolicy"],
    fields: {
      ackPolicy: ["none", "all", "explicit"], ackWait: "duration", backoff: "array",
      deliverGroup: "string", deliverPolicy: ["all", "last", "new", "byStartSequence", "byStartTime", "lastPerSubject"],
      deliverSubject: "string", description: "string", durableName: "string", filterSubject: "string",
      filterSubjects: "array", flowControl: "boolean", headersOnly: "boolean", heartbeatInterval: "duration",
      inactiveThreshold: "duration", maxAckPending: "integer", maxDeliver: "integer", maxRequestBatch: "integer",
      maxRequestExpires: "duration", maxRequestMaxBytes: "integer", maxWaiting: "integer", memStorage: "boolean",
      metadata: "object", optStartSeq: "integer", optStartTime: "string", rateLimitBps: "integer",
      replayPolicy: ["instant", "original"], replicas: "integer", sampleFreq: "string", streamName: "string",
      account: "string", creds: "string", nkey: "string", servers: "array", tls: "object",
      preventDelete: "boolean", preventUpdate: "boolean", pauseUntil: "string", priorityGroups: "array",
      priorityPolicy: "string", pinnedTtl: "duration", // pinnedTtl: NACK v0.20.1 and later
    },
  },
  KeyValue: {
    required: ["bucket"],
    fields: {
      bucket: "string", description: "string", maxValueSize: "integer", history: "integer",
      ttl: "duration", limitMarkerTtl: "integer", maxBytes: "integer", storage: ["file", "memory"],
      replicas: "integer", placement: "object", republish: "object", mirror: "object",
      compression: "boolean", sources: "array", account: "string", creds: "string", nkey: "string",
      preventDelete: "boolean", preventUpdate: "boolean", servers: "array", tls: "object",
      tlsFirst: "boolean", jsDomain: "string",
    },
  },
  ObjectStore: {
    required: ["bucket"],
    fields: {
      bucket: "string", description: "string", ttl: "duration", maxBytes: "integer",
      storage: ["file", "memory"], replicas: "integer", placement: "object", compression: "boolean",
      metadata: "object", account: "string", creds: "string", nkey: "string", preventDelete: "boolean",
      preventUpdate: "boolean", servers: "array", tls: "object", tlsFirst: "boolean", jsDomain: "string",
    },
  },
};

function checkType(where, key, want, v) {
  if (Array.isArray(want)) {
    if (!want.includes(v)) bad(where, `spec.${key} ${JSON.stringify(v)} is not one of ${want.join(", ")}`);
    return;
  }
  const ok = {
    boolean: () => typeof v === "boolean",
    string: () => typeof v === "string",
    integer: () => Number.isInteger(v),
    object: () => v !== null && typeof v === "object" && !Array.isArray(v),
    array: () => Array.isArray(v),
    duration: () => typeof v === "string" && /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(v),
  }[want]();
  if (!ok) bad(where, `spec.${key} ${JSON.stringify(v)} is not a ${want}`);
}

function checkNACK(where, doc) {
  const def = nack[doc.kind];
  if (!def) return bad(where, `unknown jetstream.nats.io kind`);
  const spec = doc.spec;
  if (!spec || typeof spec !== "object") return bad(where, "spec is missing");
  for (const k of def.required) if (!(k in spec)) bad(where, `spec.${k} is required`);
  for (const [k, v] of Object.entries(spec)) {
    if (!(k in def.fields)) bad(where, `spec.${k} is not a field of NACK's ${doc.kind} CRD`);
    else checkType(where, k, def.fields[k], v);
  }
}

// checkWorker enforces what docs/operations.md promises about the pod.
function checkWorker(where, doc) {
  const pod = doc.spec?.template?.spec ?? {};
  const c = (pod.containers ?? []).find((c) => c.name === "worker");
  if (!c) return bad(where, "no container named worker");
  const sc = c.securityContext ?? {};
  if (pod.securityContext?.runAsNonRoot !== true) bad(where, "pod must run as non-root");
  if (sc.readOnlyRootFilesystem !== true) bad(where, "readOnlyRootFilesystem must be true");
  if (sc.allowPrivilegeEscalation !== false) bad(where, "allowPrivilegeEscalation must be false");
  if (!(sc.capabilities?.drop ?? []).includes("ALL")) bad(where, "capabilities must drop ALL");
  if (c.readinessProbe?.httpGet?.path !== "/readyz") bad(where, "readiness probe must GET /readyz");
  if (c.livenessProbe?.httpGet?.path !== "/healthz") bad(where, "liveness probe must GET /healthz");
  if (!(pod.terminationGracePeriodSeconds > 20)) bad(where, "terminationGracePeriodSeconds must exceed WORKER_DRAIN_TIMEOUT (20s)");
  const env = Object.fromEntries((c.env ?? []).map((e) => [e.name, e]));
  if (env.GOMEMLIMIT?.valueFrom?.resourceFieldRef?.resource !== "limits.memory") bad(where, "GOMEMLIMIT must come from limits.memory");
  if (!c.resources?.limits?.memory) bad(where, "a memory limit is required");
  for (const m of c.volumeMounts ?? []) if (m.subPath) bad(where, `volume mount ${m.name} uses subPath: Secret rotation would not propagate`);
}

async function modelClass(apiVersion, kind) {
  let mod;
  if (apiVersion === "keda.sh/v1alpha1") mod = await import("@kubernetes-models/keda/keda.sh/v1alpha1");
  else if (apiVersion === "monitoring.coreos.com/v1") mod = await import("@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1");
  else mod = await import(`kubernetes-models/${apiVersion}`);
  return mod[kind];
}

let count = 0;
for (const file of process.argv.slice(2)) {
  const docs = parseAllDocuments(readFileSync(file, "utf8"));
  for (const d of docs) {
    if (d.errors.length) { bad(file, `YAML: ${d.errors.map((e) => e.message).join("; ")}`); continue; }
    const doc = d.toJS();
    if (doc == null) continue;
    count++;
    const where = `${file}: ${doc.kind ?? "?"}/${doc.metadata?.name ?? "?"}`;
    if (!doc.apiVersion || !doc.kind) { bad(where, "apiVersion and kind are required"); continue; }
    if (!doc.metadata?.name) bad(where, "metadata.name is required");
    if (doc.apiVersion === "jetstream.nats.io/v1beta2") { checkNACK(where, doc); continue; }
    let Cls;
    try { Cls = await modelClass(doc.apiVersion, doc.kind); } catch { Cls = undefined; }
    if (!Cls) { bad(where, `no schema for ${doc.apiVersion} ${doc.kind}`); continue; }
    try { new Cls(doc).validate(); } catch (e) { bad(where, e.message); }
    if (doc.kind === "Deployment" && doc.metadata.name === "skattekonto-worker") checkWorker(where, doc);
  }
}
if (count === 0) bad("input", "no manifests");
if (problems.length) {
  for (const p of problems) console.error(`INVALID ${p}`);
  process.exit(1);
}
console.log(`${count} manifests valid`);
