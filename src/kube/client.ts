// The real KubeClient on @kubernetes/client-node 2.x: the only code in Slumber that talks to the API server.

import { createRequire } from "node:module";
import { hostname } from "node:os";
import {
  type ApiConstructor,
  ApiException,
  type ApiType,
  AppsV1Api,
  BatchV1Api,
  CoreV1Api,
  CustomObjectsApi,
  createConfiguration,
  KubeConfig,
  type KubernetesObject,
  type Middleware,
  makeInformer,
  PatchStrategy,
  ServerConfiguration,
  setHeaderMiddleware,
  setHeaderOptions,
  type V1CronJob,
  type V1Deployment,
  type V1Namespace,
  type V1ObjectMeta,
  type V1Pod,
  type V1Secret,
  type V1StatefulSet,
  Watch,
} from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { Dispatcher } from "undici";
import { specFingerprint } from "./fingerprint.js";
import { DEFAULT_RETRY, parseRetryAfter, type RequestSafety, type RetryPolicy, retrying } from "./retry.js";
import {
  type ControlPlane,
  describeRef,
  type EventSpec,
  type KubeClient,
  KubeError,
  type NamespaceObject,
  type ObjectMeta,
  type ObjectPatch,
  type ObjectRef,
  type PatchableKind,
  type SecretData,
  type WatchEvent,
  type WatchedResource,
  type WatchHandle,
  type Workload,
} from "./types.js";

export const CONTROL_PLANE_SELECTOR = "app=vcluster";
/** vcluster's lifecycle package finds a Deployment control plane's companions by `app` and `release`. */
/** How a Deployment control plane's companions are labelled (with `release=NAME`), as vcluster's chart does. */
export const COMPANION_LABEL = "app";
export const ETCD_APP = "vcluster-etcd";
export const DEPLOYMENT_COMPANION_APPS: readonly string[] = ["vcluster-api", "vcluster-controller"];
export const REPORTING_CONTROLLER = "slumber";
const KEDA = { group: "keda.sh", version: "v1alpha1", plural: "scaledobjects" } as const;
/** How long a "KEDA is not installed" answer is trusted before asking again. */
const KEDA_DISCOVERY_TTL_MS = 5 * 60_000;
const INFORMER_BACKOFF_MIN_MS = 1_000;
const INFORMER_BACKOFF_MAX_MS = 60_000;

const API_VERSION: Record<PatchableKind, string> = {
  Deployment: "apps/v1",
  StatefulSet: "apps/v1",
  CronJob: "batch/v1",
  ScaledObject: `${KEDA.group}/${KEDA.version}`,
  Namespace: "v1",
};

const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

/**
 * How long one API request other than a watch may take, from sending it to the end of its body. Without
 * it undici waits 300 s for an answer, so one hung API server held a reconcile pass up for minutes.
 */
export const DEFAULT_API_TIMEOUT_MS = 30_000;

/** What KubeConfig.makeApiClient sends (client-node's config.js builds it from its package.json). */
const USER_AGENT = `kubernetes-client-javascript/${
  (createRequire(import.meta.url)("@kubernetes/client-node/package.json") as { version?: string }).version ??
  ""
}`;

/**
 * A client-node middleware that aborts each request after `timeoutMs` (the fetch, or the body still being
 * read, rejects with a DOMException "TimeoutError"). A signal already on the request still applies.
 */
export function requestTimeout(timeoutMs: number): Middleware {
  return {
    pre: async (context) => {
      const deadline = AbortSignal.timeout(timeoutMs);
      const signal = context.getSignal();
      context.setSignal(signal ? AbortSignal.any([signal, deadline]) : deadline);
      return context;
    },
    post: async (response) => response,
  };
}

/** One connection pool per KubeConfig, shared by every client made from it (makeApiClient). */
const sharedDispatchers = new WeakMap<KubeConfig, Dispatcher>();

/**
 * A client-node middleware that sends every request of `kubeConfig`'s clients through one undici
 * dispatcher. client-node builds a new dispatcher (connection pool) for every request, so each request
 * paid a TLS handshake and left a keep-alive socket and its buffers behind: a burst of a few thousand
 * requests (500 namespaces opted in at once) held hundreds of MB outside the JS heap. The TLS material
 * is the kubeconfig's and does not change while it runs; credentials that do (tokens) are headers.
 */
export function sharedConnections(kubeConfig: KubeConfig): Middleware {
  return {
    pre: async (context) => {
      const fresh = context.getDispatcher();
      if (fresh === undefined) return context; // plain HTTP without TLS options: fetch's global pool
      const shared = sharedDispatchers.get(kubeConfig);
      if (shared === undefined) {
        sharedDispatchers.set(kubeConfig, fresh);
        return context;
      }
      if (fresh !== shared) {
        context.setDispatcher(shared);
        void fresh.close().catch(() => undefined); // never connected: nothing to wait for
      }
      return context;
    },
    post: async (response) => response,
  };
}

/**
 * `kubeConfig.makeApiClient(type)`, the same server, credentials and User-Agent, plus requestTimeout: every
 * request of the client gets `timeoutMs`. Only generated clients get it; watches (client-node's Watch, its
 * own fetch) are long-lived and keep their own inactivity timeout.
 */
export function makeApiClient<T extends ApiType>(
  kubeConfig: KubeConfig,
  type: ApiConstructor<T>,
  timeoutMs: number,
): T {
  const cluster = kubeConfig.getCurrentCluster();
  if (!cluster) throw new Error("No active cluster!");
  return new type(
    createConfiguration({
      baseServer: new ServerConfiguration(cluster.server, {}),
      authMethods: { default: kubeConfig },
      middleware: [setHeaderMiddleware("User-Agent", USER_AGENT)],
      promiseMiddleware: [requestTimeout(timeoutMs), sharedConnections(kubeConfig)],
    }),
  );
}

/** Loads credentials like kubectl: `path` if given, else $KUBECONFIG, ~/.kube/config, in-cluster. */
export function loadKubeConfig(path?: string): KubeConfig {
  const kubeConfig = new KubeConfig();
  if (path) kubeConfig.loadFromFile(path);
  else kubeConfig.loadFromDefault();
  return kubeConfig;
}

export interface KubeClientOptions {
  kubeConfig: KubeConfig;
  logger: Logger;
  /** Events' reportingInstance; defaults to the host (pod) name. */
  reportingInstance?: string;
  /** Overrides of DEFAULT_RETRY (tests pass a `sleep` that does not wait). */
  retry?: Partial<RetryPolicy>;
  /** Per-request timeout of every call but watches; DEFAULT_API_TIMEOUT_MS when absent. */
  timeoutMs?: number;
}

export function normalizeMeta(meta: V1ObjectMeta | undefined): ObjectMeta {
  return {
    namespace: meta?.namespace ?? "",
    name: meta?.name ?? "",
    uid: meta?.uid ?? "",
    resourceVersion: meta?.resourceVersion ?? "",
    generation: meta?.generation ?? 0,
    labels: meta?.labels ?? {},
    annotations: meta?.annotations ?? {},
  };
}

export function normalizeControlPlane(
  obj: V1StatefulSet | V1Deployment,
  kind: "StatefulSet" | "Deployment",
): ControlPlane {
  const meta = normalizeMeta(obj.metadata);
  const claims = kind === "StatefulSet" ? (obj as V1StatefulSet).spec?.volumeClaimTemplates : undefined;
  return {
    kind,
    meta,
    release: meta.labels.release ?? meta.name,
    replicas: obj.spec?.replicas ?? 1,
    statusReplicas: obj.status?.replicas ?? 0,
    readyReplicas: obj.status?.readyReplicas ?? 0,
    hasVolumeClaimTemplates: (claims?.length ?? 0) > 0,
  };
}

export function normalizeScalable(
  obj: V1StatefulSet | V1Deployment,
  kind: "StatefulSet" | "Deployment",
): Workload {
  return {
    kind,
    meta: normalizeMeta(obj.metadata),
    replicas: obj.spec?.replicas ?? 1,
    readyReplicas: obj.status?.readyReplicas ?? 0,
    suspend: null,
    scaleTarget: null,
    specFingerprint: specFingerprint(obj.spec, ["replicas"]),
  };
}

export function normalizeCronJob(obj: V1CronJob): Workload {
  return {
    kind: "CronJob",
    meta: normalizeMeta(obj.metadata),
    replicas: null,
    readyReplicas: null,
    suspend: obj.spec?.suspend ?? false,
    scaleTarget: null,
    specFingerprint: specFingerprint(obj.spec, ["suspend"]),
  };
}

export interface ScaledObjectResource extends KubernetesObject {
  spec?: { scaleTargetRef?: { kind?: string; name?: string }; [key: string]: unknown };
}

export function normalizeScaledObject(obj: ScaledObjectResource): Workload {
  const target = obj.spec?.scaleTargetRef;
  return {
    kind: "ScaledObject",
    meta: normalizeMeta(obj.metadata),
    replicas: null,
    readyReplicas: null,
    suspend: null,
    scaleTarget: target?.name ? { kind: target.kind ?? "Deployment", name: target.name } : null,
    specFingerprint: specFingerprint(obj.spec, []),
  };
}

/** How requests are retried (src/kube/retry.ts), and where each retry is logged. */
export interface CallContext {
  retry: RetryPolicy;
  logger?: Logger;
  /** The clients' per-request timeout (makeApiClient), named in the error of a request that ran out of it. */
  timeoutMs?: number;
}

/** A GET or LIST may be repeated after any failure; a write only after a 429 (see src/kube/retry.ts). */
export const safetyOf = (operation: string): RequestSafety =>
  /^(get|list)\b/.test(operation) ? "read" : "write";

/** Whether `err` is a request aborted by requestTimeout (AbortSignal.timeout's reason). */
export function isRequestTimeout(err: unknown): boolean {
  return err instanceof Error && err.name === "TimeoutError";
}

/**
 * Any failure of an API call as a KubeError naming the operation and the object, with its Retry-After. A
 * request past its timeout has no HTTP code, like a dropped connection: retry.ts repeats it for reads only.
 */
function toKubeError(
  operation: string,
  object: string,
  err: unknown,
  now: number,
  timeoutMs?: number,
): KubeError {
  if (err instanceof KubeError) return err;
  if (isRequestTimeout(err)) {
    const after = timeoutMs === undefined ? "" : ` after ${timeoutMs / 1000} s`;
    return new KubeError(operation, object, undefined, `request timed out${after}`);
  }
  if (err instanceof ApiException) {
    const code = err.code;
    const retryAfterMs =
      code === 429 || code === 503 ? parseRetryAfter(header(err.headers, "retry-after"), now) : undefined;
    return new KubeError(operation, object, code, statusMessage(err.body) ?? err.message, retryAfterMs);
  }
  return new KubeError(operation, object, undefined, networkDetail(err));
}

/** client-node copies undici's headers, whose names are lower case; any case is accepted all the same. */
function header(headers: Record<string, string> | undefined, name: string): string | undefined {
  if (!headers) return undefined;
  if (name in headers) return headers[name];
  return Object.entries(headers).find(([key]) => key.toLowerCase() === name)?.[1];
}

/**
 * Runs one API call, retried as src/kube/retry.ts says for its operation (`get`/`list...` are reads), and
 * turns its failure into a KubeError naming the operation and the object.
 */
export function call<T>(
  context: CallContext,
  operation: string,
  object: string,
  fn: () => Promise<T>,
): Promise<T> {
  return retrying(
    { operation, object, safety: safetyOf(operation) },
    async () => {
      try {
        return await fn();
      } catch (err) {
        throw toKubeError(operation, object, err, context.retry.now(), context.timeoutMs);
      }
    },
    context.retry,
    context.logger,
  );
}

/** undici reports every network failure as "fetch failed"; the reason (TLS, ECONNREFUSED, ...) is in `cause`. */
export function networkDetail(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause;
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    return `${err.message}: ${typeof code === "string" ? `${code} ` : ""}${cause.message}`;
  }
  return err.message;
}

function statusMessage(body: unknown): string | undefined {
  if (typeof body !== "string") return undefined;
  try {
    const status = JSON.parse(body) as { message?: unknown };
    return typeof status.message === "string" ? status.message : body;
  } catch {
    return body;
  }
}

function patchBody(ref: ObjectRef, patch: ObjectPatch): Record<string, unknown> {
  const metadata: Record<string, unknown> = {};
  if (patch.annotations) metadata.annotations = patch.annotations;
  if (patch.resourceVersion) metadata.resourceVersion = patch.resourceVersion;
  const spec: Record<string, unknown> = {};
  if (patch.replicas !== undefined) {
    if (ref.kind !== "Deployment" && ref.kind !== "StatefulSet") {
      throw new KubeError(
        "patch",
        describeRef(ref),
        400,
        "spec.replicas is only patched on Deployments and StatefulSets",
      );
    }
    spec.replicas = patch.replicas;
  }
  if (patch.suspend !== undefined) {
    if (ref.kind !== "CronJob")
      throw new KubeError("patch", describeRef(ref), 400, "spec.suspend is only patched on CronJobs");
    spec.suspend = patch.suspend;
  }
  return Object.keys(spec).length > 0 ? { metadata, spec } : { metadata };
}

export class ApiServerKubeClient implements KubeClient {
  private readonly core: CoreV1Api;
  private readonly apps: AppsV1Api;
  private readonly batch: BatchV1Api;
  private readonly custom: CustomObjectsApi;
  private readonly logger: Logger;
  private readonly kubeConfig: KubeConfig;
  private readonly reportingInstance: string;
  private readonly context: CallContext;
  private kedaKnownAbsentAt: number | null = null;

  constructor(options: KubeClientOptions) {
    const { kubeConfig } = options;
    const timeoutMs = options.timeoutMs ?? DEFAULT_API_TIMEOUT_MS;
    this.kubeConfig = kubeConfig;
    this.core = makeApiClient(kubeConfig, CoreV1Api, timeoutMs);
    this.apps = makeApiClient(kubeConfig, AppsV1Api, timeoutMs);
    this.batch = makeApiClient(kubeConfig, BatchV1Api, timeoutMs);
    this.custom = makeApiClient(kubeConfig, CustomObjectsApi, timeoutMs);
    this.logger = options.logger;
    this.reportingInstance = options.reportingInstance ?? hostname();
    this.context = { retry: { ...DEFAULT_RETRY, ...options.retry }, logger: options.logger, timeoutMs };
  }

  private request<T>(operation: string, object: string, fn: () => Promise<T>): Promise<T> {
    return call(this.context, operation, object, fn);
  }

  async listControlPlanes(): Promise<ControlPlane[]> {
    const labelSelector = CONTROL_PLANE_SELECTOR;
    const [sets, deployments] = await Promise.all([
      this.request("list", "StatefulSets app=vcluster", () =>
        this.apps.listStatefulSetForAllNamespaces({ labelSelector }),
      ),
      this.request("list", "Deployments app=vcluster", () =>
        this.apps.listDeploymentForAllNamespaces({ labelSelector }),
      ),
    ]);
    return [
      ...sets.items.map((s) => normalizeControlPlane(s, "StatefulSet")),
      ...deployments.items.map((d) => normalizeControlPlane(d, "Deployment")),
    ];
  }

  async getControlPlane(namespace: string, release: string): Promise<ControlPlane | null> {
    const labelSelector = `${CONTROL_PLANE_SELECTOR},release=${release}`;
    const object = `vcluster ${namespace}/${release}`;
    const [sets, deployments] = await Promise.all([
      this.request("list StatefulSets of", object, () =>
        this.apps.listNamespacedStatefulSet({ namespace, labelSelector }),
      ),
      this.request("list Deployments of", object, () =>
        this.apps.listNamespacedDeployment({ namespace, labelSelector }),
      ),
    ]);
    const set = sets.items[0];
    if (set) return normalizeControlPlane(set, "StatefulSet");
    const deployment = deployments.items[0];
    return deployment ? normalizeControlPlane(deployment, "Deployment") : null;
  }

  async listNamespaces(labelSelector?: string): Promise<NamespaceObject[]> {
    const list = await this.request("list", `Namespaces${labelSelector ? ` (${labelSelector})` : ""}`, () =>
      this.core.listNamespace({ labelSelector }),
    );
    return list.items.map((ns: V1Namespace) => ({ meta: normalizeMeta(ns.metadata) }));
  }

  async getNamespace(name: string): Promise<NamespaceObject | null> {
    try {
      const ns = await this.request("get", `Namespace ${name}`, () => this.core.readNamespace({ name }));
      return { meta: normalizeMeta(ns.metadata) };
    } catch (err) {
      if (err instanceof KubeError && err.code === 404) return null;
      throw err;
    }
  }

  async listWorkloads(namespace: string): Promise<Workload[]> {
    const [deployments, sets, cronJobs, scaledObjects] = await Promise.all([
      this.request("list", `Deployments in ${namespace}`, () =>
        this.apps.listNamespacedDeployment({ namespace }),
      ),
      this.request("list", `StatefulSets in ${namespace}`, () =>
        this.apps.listNamespacedStatefulSet({ namespace }),
      ),
      this.request("list", `CronJobs in ${namespace}`, () => this.batch.listNamespacedCronJob({ namespace })),
      this.listScaledObjects(namespace),
    ]);
    return [
      ...deployments.items.map((d) => normalizeScalable(d, "Deployment")),
      ...sets.items.map((s) => normalizeScalable(s, "StatefulSet")),
      ...cronJobs.items.map(normalizeCronJob),
      ...scaledObjects.map(normalizeScaledObject),
    ];
  }

  /** ScaledObjects exist only where KEDA's CRD is installed; a 404 means "not installed", remembered for a while. */
  private async listScaledObjects(namespace: string): Promise<ScaledObjectResource[]> {
    if (this.kedaKnownAbsentAt !== null && Date.now() - this.kedaKnownAbsentAt < KEDA_DISCOVERY_TTL_MS)
      return [];
    try {
      const list = (await this.request("list", `ScaledObjects in ${namespace}`, () =>
        this.custom.listNamespacedCustomObject({ ...KEDA, namespace }),
      )) as { items?: ScaledObjectResource[] };
      this.kedaKnownAbsentAt = null;
      return list.items ?? [];
    } catch (err) {
      if (err instanceof KubeError && err.code === 404) {
        if (this.kedaKnownAbsentAt === null)
          this.logger.info({ crd: "scaledobjects.keda.sh" }, "KEDA not installed; ScaledObjects ignored");
        this.kedaKnownAbsentAt = Date.now();
        return [];
      }
      throw err;
    }
  }

  async listPods(namespace: string, labelSelector?: string): Promise<V1Pod[]> {
    const object = `Pods in ${namespace}${labelSelector ? ` (${labelSelector})` : ""}`;
    const list = await this.request("list", object, () =>
      this.core.listNamespacedPod({ namespace, labelSelector }),
    );
    return list.items;
  }

  async listCompanions(namespace: string, release: string): Promise<Workload[]> {
    const object = `vcluster ${namespace}/${release}`;
    const [sets, deployments] = await Promise.all([
      this.request("list etcd StatefulSet of", object, () =>
        this.apps.listNamespacedStatefulSet({
          namespace,
          labelSelector: `${COMPANION_LABEL}=${ETCD_APP},release=${release}`,
        }),
      ),
      this.request("list api/controller Deployments of", object, () =>
        this.apps.listNamespacedDeployment({
          namespace,
          labelSelector: `${COMPANION_LABEL} in (${DEPLOYMENT_COMPANION_APPS.join(",")}),release=${release}`,
        }),
      ),
    ]);
    return [
      ...sets.items.map((s) => normalizeScalable(s, "StatefulSet")),
      ...deployments.items.map((d) => normalizeScalable(d, "Deployment")),
    ];
  }

  async deletePod(namespace: string, name: string): Promise<void> {
    try {
      await this.request("delete", `Pod ${namespace}/${name}`, () =>
        this.core.deleteNamespacedPod({ namespace, name }),
      );
    } catch (err) {
      if (!(err instanceof KubeError && err.code === 404)) throw err;
    }
  }

  async readVclusterConfig(namespace: string, release: string): Promise<string | null> {
    const name = `vc-config-${release}`;
    try {
      const secret = await this.request("get", `Secret ${namespace}/${name}`, () =>
        this.core.readNamespacedSecret({ namespace, name }),
      );
      const encoded = secret.data?.["config.yaml"];
      return encoded === undefined ? null : Buffer.from(encoded, "base64").toString("utf8");
    } catch (err) {
      if (err instanceof KubeError && err.code === 404) return null;
      throw err;
    }
  }

  async patch(ref: ObjectRef, patch: ObjectPatch): Promise<ObjectMeta> {
    const body = patchBody(ref, patch);
    const { namespace, name } = ref;
    const object = describeRef(ref);
    switch (ref.kind) {
      case "Namespace":
        return normalizeMeta(
          (await this.request("patch", object, () => this.core.patchNamespace({ name, body }, mergePatch)))
            .metadata,
        );
      case "Deployment":
        return normalizeMeta(
          (
            await this.request("patch", object, () =>
              this.apps.patchNamespacedDeployment({ namespace, name, body }, mergePatch),
            )
          ).metadata,
        );
      case "StatefulSet":
        return normalizeMeta(
          (
            await this.request("patch", object, () =>
              this.apps.patchNamespacedStatefulSet({ namespace, name, body }, mergePatch),
            )
          ).metadata,
        );
      case "CronJob":
        return normalizeMeta(
          (
            await this.request("patch", object, () =>
              this.batch.patchNamespacedCronJob({ namespace, name, body }, mergePatch),
            )
          ).metadata,
        );
      case "ScaledObject": {
        const patched = (await this.request("patch", object, () =>
          this.custom.patchNamespacedCustomObject({ ...KEDA, namespace, name, body }, mergePatch),
        )) as KubernetesObject;
        return normalizeMeta(patched.metadata);
      }
    }
  }

  async recordEvent(event: EventSpec): Promise<void> {
    const { regarding } = event;
    // Events about a Namespace live in that namespace, so `kubectl describe ns` shows them.
    const namespace = regarding.kind === "Namespace" ? regarding.name : regarding.namespace;
    const now = new Date();
    await this.request("create Event about", describeRef(regarding), () =>
      this.core.createNamespacedEvent({
        namespace,
        body: {
          metadata: { generateName: `${regarding.name}.slumber.`, namespace },
          involvedObject: {
            apiVersion: API_VERSION[regarding.kind],
            kind: regarding.kind,
            name: regarding.name,
            // The API server requires involvedObject.namespace to equal the Event's namespace (or the
            // Event to be in "default"); naming the Namespace itself keeps `kubectl get events -n NS` useful.
            namespace,
            uid: regarding.uid,
          },
          type: event.type,
          reason: event.reason,
          action: event.action,
          message: event.note,
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
          source: { component: REPORTING_CONTROLLER },
          reportingComponent: REPORTING_CONTROLLER,
          reportingInstance: this.reportingInstance,
        },
      }),
    );
  }

  async readSecret(namespace: string, name: string): Promise<SecretData | null> {
    try {
      const secret = await this.request("get", `Secret ${namespace}/${name}`, () =>
        this.core.readNamespacedSecret({ namespace, name }),
      );
      return decodeSecret(secret);
    } catch (err) {
      if (err instanceof KubeError && err.code === 404) return null;
      throw err;
    }
  }

  async createSecret(namespace: string, name: string, data: SecretData): Promise<"created" | "exists"> {
    const encoded: Record<string, string> = {};
    for (const [key, value] of Object.entries(data)) encoded[key] = value.toString("base64");
    try {
      await this.request("create", `Secret ${namespace}/${name}`, () =>
        this.core.createNamespacedSecret({
          namespace,
          body: {
            metadata: { name, namespace, labels: { "app.kubernetes.io/managed-by": "slumber" } },
            data: encoded,
          },
        }),
      );
      return "created";
    } catch (err) {
      if (err instanceof KubeError && err.code === 409) return "exists";
      throw err;
    }
  }

  watchSecret(namespace: string, name: string, onChange: (data: SecretData | null) => void): WatchHandle {
    const object = `Secret ${namespace}/${name}`;
    let stopped = false;
    let abort: AbortController | undefined;
    let timer: NodeJS.Timeout | undefined;
    let backoffMs = INFORMER_BACKOFF_MIN_MS;
    /** Last version seen (events and bookmarks): a watch that ends quietly resumes from it, without a read. */
    let resourceVersion: string | undefined;
    let markSynced: () => void = () => {};
    const synced = new Promise<void>((resolve) => {
      markSynced = resolve;
    });
    const restart = (err: unknown, events = 1) => {
      if (stopped) return;
      // The API server ends watches after its request timeout, and a quiet one times out here: resume.
      // One that ended without a single event is not resumed at once: a server doing that would be spun on.
      const quiet = !err || (err instanceof Error && err.name === "TimeoutError");
      if (quiet) {
        timer = setTimeout(() => void follow(), events > 0 ? 0 : backoffMs);
        if (events === 0) backoffMs = Math.min(backoffMs * 2, INFORMER_BACKOFF_MAX_MS);
        return;
      }
      const gone = (err as { statusCode?: number }).statusCode === 410;
      if (!gone)
        this.logger.warn(
          { secret: object, err: networkDetail(err), retryInMs: backoffMs },
          "secret watch stopped; restarting",
        );
      resourceVersion = undefined;
      // 410 Gone: read again at once, but not in a loop (after an API server restart its watch cache
      // can answer 410 to every watch for a while).
      timer = setTimeout(() => void begin(), gone && events > 0 ? 0 : backoffMs);
      backoffMs = Math.min(backoffMs * 2, INFORMER_BACKOFF_MAX_MS);
    };
    // A read, then a watch from that version: only `get` and `watch` on one name, never a list of Secrets.
    const begin = async (): Promise<void> => {
      if (stopped) return;
      try {
        const secret = await this.core.readNamespacedSecret({ namespace, name });
        // Watched from "now", not from the object's own version: an unchanged Secret's version can be older
        // than an API server's watch cache (after a restart), and every watch from it would be 410 Gone.
        resourceVersion = undefined;
        onChange(decodeSecret(secret));
      } catch (err) {
        if (!(err instanceof ApiException && err.code === 404)) {
          markSynced();
          // As a KubeError: a read past its timeout must back off, not pass for a watch that ended quietly.
          restart(toKubeError("get", object, err, Date.now(), this.context.timeoutMs));
          return;
        }
        onChange(null);
      }
      markSynced();
      await follow();
    };
    const follow = async (): Promise<void> => {
      if (stopped) return;
      try {
        const watch = new Watch(this.kubeConfig);
        // Bookmarks (about once a minute) keep a quiet watch alive past client-node's inactivity timeout.
        (watch as unknown as { requestTimeoutMs: number }).requestTimeoutMs = 5 * 60_000;
        let events = 0;
        /** An ERROR event (410 Gone: the version is too old) ends the watch: it must be read again. */
        let streamError: unknown = null;
        abort = await watch.watch(
          `/api/v1/namespaces/${namespace}/secrets`,
          { fieldSelector: `metadata.name=${name}`, resourceVersion, allowWatchBookmarks: true },
          (phase: string, obj: V1Secret) => {
            if (phase === "ERROR") {
              const status = obj as unknown as { code?: number; message?: string };
              streamError = Object.assign(new Error(status.message ?? "watch error"), {
                statusCode: status.code,
              });
              return;
            }
            events++;
            backoffMs = INFORMER_BACKOFF_MIN_MS;
            resourceVersion = obj?.metadata?.resourceVersion ?? resourceVersion;
            if (phase === "ADDED" || phase === "MODIFIED") onChange(decodeSecret(obj));
            else if (phase === "DELETED") onChange(null);
          },
          (err: unknown) => restart(err ?? streamError, events),
        );
      } catch (err) {
        restart(err);
      }
    };
    void begin();
    return {
      synced,
      stop: async () => {
        stopped = true;
        if (timer) clearTimeout(timer);
        abort?.abort();
      },
    };
  }

  watch(resource: WatchedResource, onEvent: (event: WatchEvent) => void): WatchHandle {
    const informers = this.informerSpecs(resource).map((spec) => this.startInformer(resource, spec, onEvent));
    return {
      synced: Promise.all(informers.map((i) => i.synced)).then(() => undefined),
      stop: async () => {
        await Promise.all(informers.map((i) => i.stop()));
      },
    };
  }

  private informerSpecs(resource: WatchedResource): InformerSpec[] {
    switch (resource) {
      case "controlPlanes":
        return [
          {
            kind: "StatefulSet",
            path: "/apis/apps/v1/statefulsets",
            labelSelector: CONTROL_PLANE_SELECTOR,
            list: () => this.apps.listStatefulSetForAllNamespaces({ labelSelector: CONTROL_PLANE_SELECTOR }),
          },
          {
            kind: "Deployment",
            path: "/apis/apps/v1/deployments",
            labelSelector: CONTROL_PLANE_SELECTOR,
            list: () => this.apps.listDeploymentForAllNamespaces({ labelSelector: CONTROL_PLANE_SELECTOR }),
          },
        ];
      case "namespaces":
        return [{ kind: "Namespace", path: "/api/v1/namespaces", list: () => this.core.listNamespace() }];
      case "workloads":
        // ScaledObjects are not watched: pausing them is read on every pass, and the CRD may be absent.
        return [
          {
            kind: "Deployment",
            path: "/apis/apps/v1/deployments",
            list: () => this.apps.listDeploymentForAllNamespaces(),
          },
          {
            kind: "StatefulSet",
            path: "/apis/apps/v1/statefulsets",
            list: () => this.apps.listStatefulSetForAllNamespaces(),
          },
          {
            kind: "CronJob",
            path: "/apis/batch/v1/cronjobs",
            list: () => this.batch.listCronJobForAllNamespaces(),
          },
        ];
    }
  }

  /** makeInformer stops on any error but 410; restart it with exponential backoff and log each restart. */
  private startInformer(resource: WatchedResource, spec: InformerSpec, onEvent: (event: WatchEvent) => void) {
    const informer = makeInformer<KubernetesObject>(
      this.kubeConfig,
      spec.path,
      spec.list,
      spec.labelSelector,
    );
    let stopped = false;
    let backoffMs = INFORMER_BACKOFF_MIN_MS;
    let timer: NodeJS.Timeout | undefined;
    const emit = (type: WatchEvent["type"]) => (obj: KubernetesObject) => {
      backoffMs = INFORMER_BACKOFF_MIN_MS;
      onEvent({
        resource,
        type,
        kind: spec.kind,
        namespace: obj.metadata?.namespace ?? "",
        name: obj.metadata?.name ?? "",
        labels: obj.metadata?.labels ?? {},
      });
    };
    informer.on("add", emit("added"));
    informer.on("update", emit("modified"));
    informer.on("delete", emit("deleted"));

    let markSynced: () => void = () => {};
    const synced = new Promise<void>((resolve) => {
      markSynced = resolve;
    });
    const begin = (): void => {
      informer.start().then(markSynced, (err: unknown) => restart(err));
    };
    const restart = (err: unknown): void => {
      if (stopped) return;
      const code = err instanceof ApiException ? err.code : undefined;
      this.logger.warn(
        {
          informer: spec.path,
          code,
          err: networkDetail(err),
          retryInMs: backoffMs,
        },
        "informer stopped; restarting",
      );
      timer = setTimeout(begin, backoffMs);
      backoffMs = Math.min(backoffMs * 2, INFORMER_BACKOFF_MAX_MS);
    };
    informer.on("error", restart);
    begin();
    return {
      synced,
      stop: async () => {
        stopped = true;
        if (timer) clearTimeout(timer);
        await informer.stop();
      },
    };
  }
}

function decodeSecret(secret: V1Secret): SecretData {
  const data: Record<string, Buffer> = {};
  for (const [key, value] of Object.entries(secret.data ?? {})) data[key] = Buffer.from(value, "base64");
  return data;
}

interface InformerSpec {
  kind: PatchableKind;
  path: string;
  labelSelector?: string;
  list: () => Promise<{ items: KubernetesObject[]; metadata?: { resourceVersion?: string } }>;
}

/** Data of Secret NAMESPACE/NAME, decoded; null when absent. For one-shot commands (`slumber kubeconfig`). */
export async function readSecretData(
  kubeConfig: KubeConfig,
  namespace: string,
  name: string,
): Promise<Record<string, string> | null> {
  const core = makeApiClient(kubeConfig, CoreV1Api, DEFAULT_API_TIMEOUT_MS);
  const context = { retry: DEFAULT_RETRY, timeoutMs: DEFAULT_API_TIMEOUT_MS };
  try {
    const secret = await call(context, "get", `Secret ${namespace}/${name}`, () =>
      core.readNamespacedSecret({ namespace, name }),
    );
    const out: Record<string, string> = {};
    for (const [key, value] of Object.entries(secret.data ?? {}))
      out[key] = Buffer.from(value, "base64").toString("utf8");
    return out;
  } catch (err) {
    if (err instanceof KubeError && err.code === 404) return null;
    throw err;
  }
}
