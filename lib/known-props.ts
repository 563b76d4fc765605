import { IConstruct } from 'constructs';
import { closest } from 'fastest-levenshtein';
import derived from './props-shapes.json';
import { check } from './validation';

/** `1`: not looked into; `{ '[]': shape }`: an array; otherwise the properties an object may have. */
type Shape = 1 | { readonly [property: string]: Shape };

/** Each construct's props, as its TypeScript declarations give them (scripts/derive-props-shapes.ts). */
const SHAPES = derived.shapes as Record<string, Shape>;

/**
 * Rejects a property that the props of `cls` (default: the construct's own class or the nearest base class
 * of the library) do not declare, at any depth: a typo such as `replica` or `repo` fails synth with the
 * closest known name, in TypeScript run without a type-check and in plain JavaScript alike. Values are
 * not checked here (each construct validates them); maps such as `options` and class instances such as
 * SecretKeyRef are not looked into.
 * @throws AirflowValidationError naming the property path, e.g. `scheduler.replica`
 */
export function checkKnownProps(scope: IConstruct, props: unknown, cls: Function = scope.constructor): void {
  let shape: Shape | undefined;
  for (let c: any = cls; c && shape === undefined; c = Object.getPrototypeOf(c)) shape = SHAPES[c.name];
  if (shape !== undefined) walk(scope, shape, props, '');
}

function walk(scope: IConstruct, shape: Shape, value: unknown, path: string): void {
  if (shape === 1 || value === null || typeof value !== 'object') return;
  const item = shape['[]'];
  if (item !== undefined) {
    if (Array.isArray(value)) value.forEach((v, i) => walk(scope, item, v, `${path}[${i}]`));
    return;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return; // a class instance: its own class checks it
  for (const [key, v] of Object.entries(value)) {
    const property = path ? `${path}.${key}` : key;
    const sub = Object.prototype.hasOwnProperty.call(shape, key) ? shape[key] : undefined;
    check(sub !== undefined, scope, property, v, () => {
      const known = Object.keys(shape).sort();
      return `a property ${path ? `of ${path} ` : ''}that exists: did you mean "${suggest(key, known)}"? (known: ${known.join(', ')})`;
    });
    walk(scope, sub!, v, property);
  }
}

/** The known name meant: the same in another case, else one that begins with the other (`repo`, `replica`), else the closest by edit distance. */
function suggest(key: string, known: string[]): string {
  const k = key.toLowerCase();
  return known.find(n => n.toLowerCase() === k)
    ?? known.find(n => n.toLowerCase().startsWith(k) || k.startsWith(n.toLowerCase()))
    ?? closest(key, known);
}
