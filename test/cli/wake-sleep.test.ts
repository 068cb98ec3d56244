import { describe, expect, it } from "vitest";
import { CliError, ExitCode } from "../../src/cli/errors.js";
import {
  parseTargetArgument,
  type WakeSleepActions,
  wakeAll,
  wakeOrSleep,
} from "../../src/cli/wake-sleep.js";
import type { TargetRef, TargetView } from "../../src/targets/types.js";

const T0 = Date.parse("2026-03-06T20:00:00Z");
const ref: TargetRef = { kind: "vcluster", namespace: "vcluster-team-a", name: "team-a" };

function view(
  state: TargetView["state"],
  desired: TargetView["desired"],
  extra: Partial<TargetView> = {},
): TargetView {
  return {
    ...ref,
    state,
    desired,
    reason: "test reason",
    since: null,
    next: null,
    hourlyCost: 0,
    currency: "USD",
    savedSoFar: 0,
    policyErrors: [],
    ...extra,
  };
}

/** A fake cluster whose target shows `views` in turn (the last one repeats), on a fake clock. */
function setup(views: (TargetView | null)[]) {
  let now = T0;
  const requests: Array<{ ref: TargetRef; at: number; forMs: number | undefined }> = [];
  const lines: string[] = [];
  let inspected = 0;
  const actions: WakeSleepActions = {
    resolve: async (namespace, name) => {
      if (namespace !== ref.namespace || name !== ref.name)
        throw new CliError(`no target ${namespace}/${name}`, 1);
      return ref;
    },
    request: async (target, at, forMs) => {
      requests.push({ ref: target, at, forMs });
    },
    inspect: async () => views[Math.min(inspected++, views.length - 1)] ?? null,
  };
  const env = {
    actions,
    clock: { now: () => now },
    delay: async (ms: number) => {
      now += ms;
    },
    progress: (line: string) => lines.push(line),
  };
  return { env, requests, lines, elapsed: () => now - T0 };
}

async function failure(promise: Promise<unknown>): Promise<CliError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof CliError) return error;
    throw error;
  }
  throw new Error("expected a CliError");
}

describe("parseTargetArgument", () => {
  it("splits NS/NAME", () => {
    expect(parseTargetArgument("vcluster-team-a/team-a")).toEqual({
      namespace: "vcluster-team-a",
      name: "team-a",
    });
  });

  it.each(["team-a", "a/b/c", "/a", "a/", "A/b", "a b/c"])("rejects %j as a usage error", (text) => {
    expect(() => parseTargetArgument(text)).toThrow(expect.objectContaining({ exitCode: ExitCode.usage }));
  });
});

describe("wakeOrSleep", () => {
  it("records the wake and waits until the target is awake, showing progress", async () => {
    const { env, requests, lines, elapsed } = setup([
      view("asleep", "awake"),
      view("asleep", "awake"),
      view("awake", "awake"),
    ]);
    const code = await wakeOrSleep(
      { want: "awake", target: "vcluster-team-a/team-a", timeoutMs: 60_000 },
      env,
    );
    expect(code).toBe(ExitCode.ok);
    expect(requests).toEqual([{ ref, at: T0, forMs: undefined }]);
    expect(elapsed()).toBe(2_000);
    expect(lines[0]).toBe(
      "wake: virtual cluster vcluster-team-a/team-a: recorded slumber.dev/last-wake; waiting up to 60s for it to be awake",
    );
    expect(lines).toContain(
      "wake: virtual cluster vcluster-team-a/team-a is asleep, becoming awake (test reason) [0s]",
    );
    expect(lines.at(-1)).toBe("wake: virtual cluster vcluster-team-a/team-a is awake (after 2s)");
  });

  it("passes --for through as a forced state", async () => {
    const { env, requests, lines } = setup([view("asleep", "asleep")]);
    await wakeOrSleep(
      { want: "asleep", target: "vcluster-team-a/team-a", timeoutMs: 1_000, forMs: 7_200_000 },
      env,
    );
    expect(requests[0]?.forMs).toBe(7_200_000);
    expect(lines[0]).toContain("forced asleep for 2h");
  });

  it("times out with exit code 3 and the last known state", async () => {
    const { env, elapsed } = setup([view("asleep", "awake", { reason: "waking: 0/1 ready" })]);
    const error = await failure(
      wakeOrSleep({ want: "awake", target: "vcluster-team-a/team-a", timeoutMs: 5_000 }, env),
    );
    expect(error.exitCode).toBe(ExitCode.timeout);
    expect(error.message).toContain("still asleep after 5s (waking: 0/1 ready)");
    expect(elapsed()).toBe(5_000);
  });

  it("fails at once when the policy keeps the target in the other state", async () => {
    const { env } = setup([view("awake", "awake", { reason: "forced awake until 2026-03-07T00:00:00Z" })]);
    const error = await failure(
      wakeOrSleep({ want: "asleep", target: "vcluster-team-a/team-a", timeoutMs: 60_000 }, env),
    );
    expect(error.exitCode).toBe(ExitCode.failure);
    expect(error.message).toBe(
      "virtual cluster vcluster-team-a/team-a stays awake: forced awake until 2026-03-07T00:00:00Z",
    );
  });

  it("fails naming the annotation when policy errors hold the target", async () => {
    const { env } = setup([
      view("awake", "asleep", {
        policyErrors: [{ key: "slumber.dev/persistent", value: "yes", message: "not true or false" }],
      }),
    ]);
    const error = await failure(
      wakeOrSleep({ want: "asleep", target: "vcluster-team-a/team-a", timeoutMs: 60_000 }, env),
    );
    expect(error.exitCode).toBe(ExitCode.failure);
    expect(error.message).toContain('slumber.dev/persistent="yes": not true or false');
  });

  it("names the policy errors of a target the agent leaves alone because of them", async () => {
    const { env } = setup([
      view("unmanaged", "awake", {
        reason: "policy error",
        policyErrors: [{ key: "slumber.dev/awake-hours", value: "Mon-Fry", message: "bad day" }],
      }),
    ]);
    const error = await failure(
      wakeOrSleep({ want: "asleep", target: "vcluster-team-a/team-a", timeoutMs: 60_000 }, env),
    );
    expect(error.message).toContain('policy errors: slumber.dev/awake-hours="Mon-Fry": bad day');
  });

  it("fails for an unmanaged target", async () => {
    const { env } = setup([view("unmanaged", "unmanaged", { reason: "excluded" })]);
    const error = await failure(
      wakeOrSleep({ want: "awake", target: "vcluster-team-a/team-a", timeoutMs: 60_000 }, env),
    );
    expect(error.message).toBe("virtual cluster vcluster-team-a/team-a is not managed by Slumber: excluded");
  });

  it("waits for the agent to wake a target it slept that has left the managed set, then succeeds", async () => {
    const released = view("asleep", "unmanaged", { reason: "namespace matches excludeNamespaces" });
    const { env, lines } = setup([released, released, null]);
    const code = await wakeOrSleep(
      { want: "awake", target: "vcluster-team-a/team-a", timeoutMs: 60_000, pollMs: 1_000 },
      env,
    );
    expect(code).toBe(ExitCode.ok);
    expect(lines.at(-1)).toContain("is awake and no longer managed by Slumber");
  });

  it("refuses to put such a target to sleep, and fails for a target that is no target at all", async () => {
    const released = view("asleep", "unmanaged", { reason: "excluded" });
    const asleep = await failure(
      wakeOrSleep(
        { want: "asleep", target: "vcluster-team-a/team-a", timeoutMs: 60_000 },
        setup([released]).env,
      ),
    );
    expect(asleep.message).toContain("is not managed by Slumber");
    const none = await failure(
      wakeOrSleep({ want: "awake", target: "vcluster-team-a/team-a", timeoutMs: 60_000 }, setup([null]).env),
    );
    expect(none.message).toBe("virtual cluster vcluster-team-a/team-a is not a Slumber target");
  });

  it("does not record anything for a target that does not exist", async () => {
    const { env, requests } = setup([view("awake", "awake")]);
    const error = await failure(wakeOrSleep({ want: "awake", target: "other/x", timeoutMs: 1_000 }, env));
    expect(error.message).toBe("no target other/x");
    expect(requests).toEqual([]);
  });
});

describe("wakeAll (slumber wake --all)", () => {
  const target = (
    name: string,
    state: TargetView["state"],
    desired: TargetView["desired"],
    extra: Partial<TargetView> = {},
  ) => view(state, desired, { kind: "vcluster", namespace: `vc-${name}`, name, ...extra });

  /** Targets listed once; each one's inspections return its `later` views in turn. */
  function setupAll(listed: TargetView[], later: Record<string, TargetView[]>) {
    let now = T0;
    const requests: Array<{ name: string; forMs: number | undefined }> = [];
    const lines: string[] = [];
    const seen = new Map<string, number>();
    const env = {
      actions: {
        list: async () => listed,
        request: async (r: TargetRef, _at: number, forMs: number | undefined) => {
          if (r.name === "broken") throw new Error("patch StatefulSet vc-broken/broken: HTTP 403: forbidden");
          requests.push({ name: r.name, forMs });
        },
        inspect: async (r: TargetRef) => {
          const views = later[r.name]!;
          const i = seen.get(r.name) ?? 0;
          seen.set(r.name, i + 1);
          return views[Math.min(i, views.length - 1)]!;
        },
      },
      clock: { now: () => now },
      delay: async (ms: number) => {
        now += ms;
      },
      progress: (line: string) => lines.push(line),
    };
    return { env, requests, lines, elapsed: () => now - T0 };
  }

  it("records a wake on every managed target (asleep or awake), skips unmanaged ones, waits for all", async () => {
    const a = target("a", "asleep", "asleep");
    const b = target("b", "awake", "awake");
    const c = target("c", "unmanaged", "unmanaged");
    const { env, requests, lines, elapsed } = setupAll([a, b, c], {
      a: [target("a", "asleep", "awake"), target("a", "asleep", "awake"), target("a", "awake", "awake")],
      b: [target("b", "awake", "awake")],
    });
    expect(await wakeAll({ timeoutMs: 60_000, pollMs: 1_000 }, env)).toBe(ExitCode.ok);
    expect(requests).toEqual([
      { name: "a", forMs: undefined },
      { name: "b", forMs: undefined },
    ]);
    expect(elapsed()).toBe(2_000);
    expect(lines[0]).toBe(
      "wake --all: recorded slumber.dev/last-wake on 2 of 2 managed targets; waiting up to 60s",
    );
    expect(lines.at(-1)).toBe("wake --all: all 2 managed targets are awake");
  });

  it("passes --for on as a forced wake", async () => {
    const { env, requests, lines } = setupAll([target("a", "asleep", "asleep")], {
      a: [target("a", "awake", "awake")],
    });
    expect(await wakeAll({ forMs: 3_600_000, timeoutMs: 60_000 }, env)).toBe(ExitCode.ok);
    expect(requests).toEqual([{ name: "a", forMs: 3_600_000 }]);
    expect(lines[0]).toContain("forced awake for 1h");
  });

  it("tries every target and lists each one that did not wake, with its reason; exit 1", async () => {
    const { env, requests } = setupAll(
      [
        target("a", "asleep", "asleep"),
        target("held", "asleep", "asleep"),
        target("broken", "asleep", "asleep"),
      ],
      {
        a: [target("a", "awake", "awake")],
        held: [target("held", "asleep", "asleep", { reason: "outside awake-hours Mon-Fri 08:00-19:00" })],
      },
    );
    const error = await failure(wakeAll({ timeoutMs: 60_000 }, env));
    expect(requests.map((r) => r.name)).toEqual(["a", "held"]);
    expect(error.exitCode).toBe(ExitCode.failure);
    expect(error.message).toContain("1 of 3 managed targets awake");
    expect(error.message).toContain(
      "virtual cluster vc-held/held stays asleep: outside awake-hours Mon-Fri 08:00-19:00",
    );
    expect(error.message).toContain("cannot record the wake: patch StatefulSet vc-broken/broken: HTTP 403");
    expect(error.message).toContain("slumber status");
  });

  it("times out naming the targets still waking (exit code of a timeout)", async () => {
    const { env, elapsed } = setupAll([target("slow", "asleep", "asleep")], {
      slow: [target("slow", "asleep", "awake")],
    });
    const error = await failure(wakeAll({ timeoutMs: 5_000, pollMs: 1_000 }, env));
    expect(error.exitCode).toBe(ExitCode.timeout);
    expect(error.message).toContain("virtual cluster vc-slow/slow is still not awake after 5s");
    expect(elapsed()).toBe(5_000);
  });

  it("with nothing managed, says so and succeeds", async () => {
    const { env, requests, lines } = setupAll([target("c", "unmanaged", "unmanaged")], {});
    expect(await wakeAll({ timeoutMs: 1_000 }, env)).toBe(ExitCode.ok);
    expect(requests).toEqual([]);
    expect(lines).toEqual(["wake --all: no managed targets"]);
  });
});
