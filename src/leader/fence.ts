// The reconciler's writes pass through this fence: while this replica is not the leader, every write is
// refused before it reaches the API server. A pass already running when leadership is lost therefore
// cannot scale anything, even before the reconciler has been stopped. A write the API server answered 429
// is retried by the client after a wait (src/kube/retry.ts); `writeGate` has it ask again before each retry.
import { writeGate } from "../kube/retry.js";
import { describeRef, type KubeClient, KubeError } from "../kube/types.js";

/** Operations of KubeClient that change the cluster. Reads and watches pass through untouched. */
export const WRITE_OPERATIONS = [
  "patch",
  "deletePod",
  "recordEvent",
  "createSecret",
] as const satisfies readonly (keyof KubeClient)[];

export function fenceWrites(kube: KubeClient, mayWrite: () => boolean): KubeClient {
  const refuse = (operation: string, object: string): never => {
    throw new KubeError(operation, object, undefined, "refused: this replica is not the leader");
  };
  return new Proxy(kube, {
    get(target, property, receiver) {
      const member = Reflect.get(target, property, receiver);
      if (typeof member !== "function") return member;
      switch (property) {
        case "patch":
          return async (...args: Parameters<KubeClient["patch"]>) => {
            if (!mayWrite()) refuse("patch", describeRef(args[0]));
            return writeGate.run(mayWrite, () => target.patch(...args));
          };
        case "deletePod":
          return async (...args: Parameters<KubeClient["deletePod"]>) => {
            if (!mayWrite()) refuse("delete", `Pod ${args[0]}/${args[1]}`);
            return writeGate.run(mayWrite, () => target.deletePod(...args));
          };
        case "recordEvent":
          return async (...args: Parameters<KubeClient["recordEvent"]>) => {
            if (!mayWrite()) refuse("create Event about", describeRef(args[0].regarding));
            return writeGate.run(mayWrite, () => target.recordEvent(...args));
          };
        default:
          return member.bind(target);
      }
    },
  });
}
