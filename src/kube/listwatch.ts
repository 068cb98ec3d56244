// LIST and WATCH of the kinds the cache keeps, as raw objects: the transport under src/kube/informer.ts.
// The real source talks to the API server through client-node; tests use an in-memory one.
import {
  AppsV1Api,
  BatchV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  type KubernetesObject,
  Watch,
} from "@kubernetes/client-node";
import type { Logger } from "pino";
import { type CallContext, call, DEFAULT_API_TIMEOUT_MS, makeApiClient } from "./client.js";
import { DEFAULT_RETRY, type RetryPolicy } from "./retry.js";

export type CachedKind =
  | "Namespace"
  | "Deployment"
  | "StatefulSet"
  | "CronJob"
  | "ScaledObject"
  | "Pod"
  | "Secret";

/** A raw object as the API server sends it (LIST items are client-node models of the same shape). */
export type RawObject = KubernetesObject & Record<string, unknown>;

export interface ListPage {
  items: RawObject[];
  /** The list's resourceVersion: a watch from here misses nothing. */
  resourceVersion: string;
  /** Token for the next page, when there is one. */
  continue?: string;
}

export interface ListOptions {
  /** Only this namespace; all namespaces when absent. */
  namespace?: string;
  limit: number;
  continue?: string;
}

export interface WatchOptions {
  resourceVersion: string;
  /** The API server ends the watch after this long; the informer then resumes from its last version. */
  timeoutSeconds: number;
}

/** A watch event as sent on the wire: BOOKMARK carries only a resourceVersion, ERROR a Status. */
export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";

export interface WatchStream {
  stop(): void;
}

export interface ListWatchSource {
  /** One page of a LIST; throws KubeError (404 when the kind does not exist, 410 when `continue` expired). */
  list(kind: CachedKind, options: ListOptions): Promise<ListPage>;
  /** Starts a watch; `done` is called once when it ends (null: closed normally), never after stop(). */
  watch(
    kind: CachedKind,
    options: WatchOptions,
    onEvent: (type: WatchEventType, object: RawObject) => void,
    done: (err: unknown) => void,
  ): Promise<WatchStream>;
}

const KEDA = { group: "keda.sh", version: "v1alpha1", plural: "scaledobjects" } as const;

const WATCH_PATH: Record<CachedKind, string> = {
  Namespace: "/api/v1/namespaces",
  Deployment: "/apis/apps/v1/deployments",
  StatefulSet: "/apis/apps/v1/statefulsets",
  CronJob: "/apis/batch/v1/cronjobs",
  ScaledObject: `/apis/${KEDA.group}/${KEDA.version}/${KEDA.plural}`,
  Pod: "/api/v1/pods",
  Secret: "/api/v1/secrets",
};

interface ListResult {
  items: KubernetesObject[];
  metadata?: { resourceVersion?: string; _continue?: string; continue?: string };
}

/** The real source: client-node's generated clients for LIST (each with a timeout), its Watch for WATCH. */
export class ApiServerListWatch implements ListWatchSource {
  private readonly core: CoreV1Api;
  private readonly apps: AppsV1Api;
  private readonly batch: BatchV1Api;
  private readonly custom: CustomObjectsApi;
  private readonly context: CallContext;

  /**
   * `options`: where LIST retries are logged, overrides of DEFAULT_RETRY (tests), and the LISTs' timeout
   * (DEFAULT_API_TIMEOUT_MS when absent; watches do not get it).
   */
  constructor(
    private readonly kubeConfig: KubeConfig,
    options: { logger?: Logger; retry?: Partial<RetryPolicy>; timeoutMs?: number } = {},
  ) {
    const timeoutMs = options.timeoutMs ?? DEFAULT_API_TIMEOUT_MS;
    this.context = { retry: { ...DEFAULT_RETRY, ...options.retry }, logger: options.logger, timeoutMs };
    this.core = makeApiClient(kubeConfig, CoreV1Api, timeoutMs);
    this.apps = makeApiClient(kubeConfig, AppsV1Api, timeoutMs);
    this.batch = makeApiClient(kubeConfig, BatchV1Api, timeoutMs);
    this.custom = makeApiClient(kubeConfig, CustomObjectsApi, timeoutMs);
  }

  async list(kind: CachedKind, options: ListOptions): Promise<ListPage> {
    const { namespace, limit } = options;
    const page = { limit, _continue: options.continue };
    const where = `${kind}s${namespace ? ` in ${namespace}` : ""}`;
    // A LIST is a read: retried after a 429 (honouring Retry-After), a 5xx or a dropped connection.
    const result = (await call(this.context, "list", where, () =>
      this.listCall(kind, namespace, page),
    )) as ListResult;
    const cont = result.metadata?._continue ?? result.metadata?.continue;
    return {
      items: (result.items ?? []) as RawObject[],
      resourceVersion: result.metadata?.resourceVersion ?? "",
      ...(cont ? { continue: cont } : {}),
    };
  }

  private listCall(
    kind: CachedKind,
    namespace: string | undefined,
    page: { limit: number; _continue: string | undefined },
  ): Promise<unknown> {
    switch (kind) {
      case "Namespace":
        return this.core.listNamespace(page);
      case "Pod":
        return namespace
          ? this.core.listNamespacedPod({ namespace, ...page })
          : this.core.listPodForAllNamespaces(page);
      case "Secret":
        return namespace
          ? this.core.listNamespacedSecret({ namespace, ...page })
          : this.core.listSecretForAllNamespaces(page);
      case "Deployment":
        return namespace
          ? this.apps.listNamespacedDeployment({ namespace, ...page })
          : this.apps.listDeploymentForAllNamespaces(page);
      case "StatefulSet":
        return namespace
          ? this.apps.listNamespacedStatefulSet({ namespace, ...page })
          : this.apps.listStatefulSetForAllNamespaces(page);
      case "CronJob":
        return namespace
          ? this.batch.listNamespacedCronJob({ namespace, ...page })
          : this.batch.listCronJobForAllNamespaces(page);
      case "ScaledObject":
        return namespace
          ? this.custom.listNamespacedCustomObject({ ...KEDA, namespace, ...page })
          : this.custom.listClusterCustomObject({ ...KEDA, ...page });
    }
  }

  async watch(
    kind: CachedKind,
    options: WatchOptions,
    onEvent: (type: WatchEventType, object: RawObject) => void,
    done: (err: unknown) => void,
  ): Promise<WatchStream> {
    const watch = new Watch(this.kubeConfig);
    // client-node aborts a watch silent for 30 s; bookmarks come about once a minute, so allow the
    // whole server-side timeout plus a margin instead of re-watching (one request each) twice a minute.
    // (The property is private in the typings but plain JavaScript, and read on every request.)
    (watch as unknown as { requestTimeoutMs: number }).requestTimeoutMs =
      (options.timeoutSeconds + 60) * 1000;
    let stopped = false;
    const controller = await watch.watch(
      WATCH_PATH[kind],
      {
        allowWatchBookmarks: true,
        resourceVersion: options.resourceVersion,
        timeoutSeconds: options.timeoutSeconds,
      },
      (type: string, object: unknown) => {
        if (!stopped) onEvent(type as WatchEventType, object as RawObject);
      },
      (err: unknown) => {
        if (!stopped) done(err);
      },
    );
    return {
      stop: () => {
        stopped = true;
        controller.abort();
      },
    };
  }
}
