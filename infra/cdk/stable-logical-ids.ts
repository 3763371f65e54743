/**
 * The stack is divided into rooms (storage, queues, functions, …) for its readers, not for
 * CloudFormation: a room leaves no trace in any logical id, so the template — and every stack
 * already deployed from it — keeps the ids it had when the stack was one constructor. A changed
 * logical id is a new resource: a new table, a new bucket, an empty queue.
 *
 * CDK builds a logical id from the construct path below the stack (`Storage/Table/Resource` →
 * `TableCD117FA1` once `Storage` is left out). Some ids CDK derives from another construct's
 * unique id (an event source mapping is named after its queue, a Lambda permission after its
 * API or rule); those carry the room inside them and are mapped back the same way.
 * `test/infra/cdk-pipeline-stack.test.ts` pins every logical id of the default stack.
 */
import { createHash } from 'node:crypto';
import { Names, type CfnElement, type Stack } from 'aws-cdk-lib';
import { Construct, type IConstruct } from 'constructs';

/** A part of the stack that groups constructs for the reader and is invisible in logical ids. */
export class StackRoom extends Construct {}

const isRoom = (c: IConstruct): boolean => c instanceof StackRoom;

/**
 * The logical id CDK would give `element` if no room stood between it and `stack`.
 * For `Stack.allocateLogicalId`.
 */
export function logicalIdWithoutRooms(stack: Stack, element: CfnElement): string {
  const scopes = element.node.scopes;
  const components = scopes
    .slice(scopes.indexOf(stack) + 1)
    .filter((c) => !isRoom(c))
    .map((c) => c.node.id);
  const roomed = roomedUniqueIds(stack, components);
  return makeUniqueId(components.map((c) => roomed.reduce((text, [withRoom, without]) => text.split(withRoom).join(without), c)));
}

/**
 * Unique ids (`Names.nodeUniqueId`) of constructs inside a room, with and without the room —
 * only computed when a path component may embed one (it names the stack and a room).
 */
function roomedUniqueIds(stack: Stack, components: string[]): Array<[string, string]> {
  const rooms = stack.node.children.filter(isRoom);
  const stackPart = alphanumeric(stack.node.id);
  if (!components.some((c) => rooms.some((r) => c.includes(stackPart + alphanumeric(r.node.id))))) return [];
  const pairs: Array<[string, string]> = [];
  for (const room of rooms) {
    for (const c of room.node.findAll()) {
      if (c === room) continue;
      const withRoom = Names.nodeUniqueId(c.node);
      const without = makeUniqueId(
        c.node.scopes
          .slice(1)
          .filter((s) => !isRoom(s))
          .map((s) => s.node.id),
      );
      pairs.push([withRoom, without]);
    }
  }
  // Longest first: a parent's id is a prefix of its children's.
  return pairs.sort(([a], [b]) => b.length - a.length);
}

/**
 * CDK's own algorithm (aws-cdk-lib `core/lib/private/uniqueid.ts`, not exported): the path
 * without `Default` components; a single component as is; otherwise the human-readable path
 * (without `Resource`, repeats collapsed) plus 8 hex digits of the path's MD5.
 */
function makeUniqueId(input: string[]): string {
  const components = input.filter((c) => c !== 'Default');
  if (components.length === 1 && alphanumeric(components[0]).length <= 255) return alphanumeric(components[0]);
  const hash = createHash('md5').update(components.join('/')).digest('hex').slice(0, 8).toUpperCase();
  const human: string[] = [];
  for (const c of components) if (human.length === 0 || !human[human.length - 1].endsWith(c)) human.push(c);
  return (
    human
      .filter((c) => c !== 'Resource')
      .map(alphanumeric)
      .join('')
      .slice(0, 240) + hash
  );
}

const alphanumeric = (s: string) => s.replace(/[^A-Za-z0-9]/g, '');
