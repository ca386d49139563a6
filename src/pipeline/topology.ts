import { ErrorCodes, PermanentError } from "../errors/errors.js";
import type { PipelineSpec } from "./types.js";

/** Only the graph: what the helpers below need of a pipeline, so the parser can use them before it has a spec. */
export interface StepGraph {
  steps: Readonly<Record<string, { readonly needs: readonly string[] }>>;
}

/**
 * Every step after the steps it needs. Among steps that could go next, the one listed first in the file
 * goes first, so the order is stable and matches how ties are broken at run time. Throws when a step needs
 * an unknown step or the needs form a cycle (a parsed pipeline has neither).
 */
export function topologicalOrder(spec: StepGraph & Pick<PipelineSpec, "name">): string[] {
  const names = Object.keys(spec.steps);
  const position = new Map(names.map((name, index) => [name, index]));
  const waitingFor = new Map<string, number>();
  for (const [name, step] of Object.entries(spec.steps)) {
    const unknown = step.needs.find((need) => !position.has(need));
    if (unknown !== undefined) {
      throw new PermanentError(
        ErrorCodes.invalidPipeline,
        `pipeline ${spec.name}: ${name} needs unknown step ${unknown}`,
      );
    }
    waitingFor.set(name, new Set(step.needs).size);
  }
  const children = childrenOf(spec);
  // Kept sorted by file position; pipelines are small, so inserting into an array beats a heap on clarity.
  const ready = names.filter((name) => waitingFor.get(name) === 0);
  const order: string[] = [];
  while (ready.length > 0) {
    const next = ready.shift() as string;
    order.push(next);
    for (const child of children.get(next) ?? []) {
      const remaining = (waitingFor.get(child) ?? 0) - 1;
      waitingFor.set(child, remaining);
      if (remaining !== 0) continue;
      const at = ready.findIndex((name) => (position.get(name) ?? 0) > (position.get(child) ?? 0));
      ready.splice(at === -1 ? ready.length : at, 0, child);
    }
  }
  if (order.length < names.length) {
    const stuck = names.filter((name) => !order.includes(name));
    throw new PermanentError(
      ErrorCodes.invalidPipeline,
      `pipeline ${spec.name}: a cycle among ${stuck.join(", ")}`,
    );
  }
  return order;
}

/** For each step (every step has an entry), the steps that need it, in file order. */
export function childrenOf(spec: StepGraph): Map<string, string[]> {
  const children = new Map<string, string[]>(Object.keys(spec.steps).map((name) => [name, []]));
  for (const [name, step] of Object.entries(spec.steps)) {
    for (const need of new Set(step.needs)) children.get(need)?.push(name);
  }
  return children;
}

/**
 * One cycle per group of steps that need each other, each as the list of steps where every one needs the
 * next and the last needs the first, starting at the group's first step in file order and taking the
 * shortest way round. A step needing itself and needs naming unknown steps are left to the caller.
 */
export function findCycles(spec: StepGraph): string[][] {
  const needs = new Map(
    Object.entries(spec.steps).map(([name, step]) => [
      name,
      step.needs.filter((need) => need !== name && Object.hasOwn(spec.steps, need)),
    ]),
  );
  const position = new Map([...needs.keys()].map((name, index) => [name, index]));
  const first = (group: Set<string>) =>
    [...group].reduce((lowest, name) => Math.min(lowest, position.get(name) ?? 0), Number.POSITIVE_INFINITY);
  return stronglyConnected(needs)
    .filter((group) => group.size > 1)
    .sort((a, b) => first(a) - first(b))
    .map((group) => shortestCycle(group, needs));
}

/** Tarjan's algorithm, iterative so that a long chain of steps cannot overflow the stack. */
function stronglyConnected(needs: Map<string, string[]>): Set<string>[] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const groups: Set<string>[] = [];
  let counter = 0;
  for (const root of needs.keys()) {
    if (index.has(root)) continue;
    const work: { name: string; next: number }[] = [{ name: root, next: 0 }];
    index.set(root, counter);
    low.set(root, counter++);
    stack.push(root);
    onStack.add(root);
    while (work.length > 0) {
      const frame = work[work.length - 1] as { name: string; next: number };
      const edges = needs.get(frame.name) ?? [];
      const target = edges[frame.next++];
      if (target !== undefined) {
        if (!index.has(target)) {
          index.set(target, counter);
          low.set(target, counter++);
          stack.push(target);
          onStack.add(target);
          work.push({ name: target, next: 0 });
        } else if (onStack.has(target)) {
          low.set(frame.name, Math.min(low.get(frame.name) ?? 0, index.get(target) ?? 0));
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent !== undefined) {
        low.set(parent.name, Math.min(low.get(parent.name) ?? 0, low.get(frame.name) ?? 0));
      }
      if (low.get(frame.name) === index.get(frame.name)) {
        const group = new Set<string>();
        let member: string | undefined;
        do {
          member = stack.pop();
          if (member === undefined) break;
          onStack.delete(member);
          group.add(member);
        } while (member !== frame.name);
        groups.push(group);
      }
    }
  }
  return groups;
}

/** Breadth-first from the group's first step back to itself, staying inside the group. */
function shortestCycle(group: Set<string>, needs: Map<string, string[]>): string[] {
  const start = [...needs.keys()].find((name) => group.has(name)) as string;
  const cameFrom = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const current = queue.shift() as string;
    for (const next of needs.get(current) ?? []) {
      if (!group.has(next)) continue;
      if (next === start) {
        const cycle = [current];
        while (cycle[0] !== start) cycle.unshift(cameFrom.get(cycle[0] as string) as string);
        return cycle;
      }
      if (cameFrom.has(next)) continue;
      cameFrom.set(next, current);
      queue.push(next);
    }
  }
  // Unreachable: every member of a strongly connected group of two or more lies on a cycle through start.
  return [...group];
}
