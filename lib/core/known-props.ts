import { IConstruct } from 'constructs';
import { closest } from 'fastest-levenshtein';
import derived from './props-shapes.json';
import { check, SECRET_REF_EXPECTED } from './validation';

/**
 * A leaf names the kinds of value allowed, joined by '|' (string, number, boolean, true, false, map, function, any,
 * `instance:<Class>`); otherwise an object's properties, `{ "[]": item }` for an array, `{ "{}": value }` for a map
 * (`Record<string, Pool>`), either with `"|"`: leaf kinds
 * a union also allows. Derived by scripts/derive-props-shapes.ts.
 */
type Shape = string | { readonly [property: string]: Shape };

/** Each construct's props, as its TypeScript declarations give them (scripts/derive-props-shapes.ts). */
const SHAPES = derived.shapes as Record<string, Shape>;
/** Interfaces many props share (the Kubernetes API's, PodOptions), by name: a leaf `type:<Name>` stands for one. */
const TYPES = derived.types as Record<string, Shape>;

/**
 * Checks props against the props interface of `cls` (default: the construct's own class or the nearest base class
 * of the library), at any depth, as TypeScript's type-checker would: an undeclared property fails with the closest
 * known name (a typo such as `replica` or `repo`), and a value of the wrong kind (a string where an object, a list,
 * a number or a boolean belongs, `null`) fails naming the property and the kind expected. So TypeScript run without
 * a type-check, plain JavaScript and JSON get the errors TypeScript users get. Values within their kind are each
 * construct's to check; maps such as `options` and class instances such as SecretKeyRef are not looked into.
 * @throws AirflowValidationError naming the property path, e.g. `scheduler.replica`
 */
export function checkKnownProps(scope: IConstruct, props: unknown, cls: Function = scope.constructor): void {
  let shape: Shape | undefined;
  for (let c: any = cls; c && shape === undefined; c = Object.getPrototypeOf(c)) shape = SHAPES[c.name];
  if (shape !== undefined) walk(scope, shape, props, '');
}

/** Whether `value` is of the leaf kind `kind`. */
function isKind(kind: string, value: unknown): boolean {
  switch (kind) {
    case 'any': return true;
    case 'string': case 'number': case 'boolean': case 'function': return typeof value === kind;
    case 'true': return value === true;
    case 'false': return value === false;
    case 'map': return isObject(value);
    default:
      if (kind.startsWith('type:')) return isObject(value) && isPlain(value); return isObject(value) && !isPlain(value); // instance:<Class>: the class itself checks which one
  }
}

const isObject = (v: unknown): v is object => typeof v === 'object' && v !== null && !Array.isArray(v);
const isPlain = (v: object) => [Object.prototype, null].includes(Object.getPrototypeOf(v));

/** How the kinds read in a message: "a string", "a number or false", "a SecretKeyRef". */
function describe(kinds: string[]): string {
  const properties = (name: string) => Object.keys(TYPES[name] as object).filter(p => p !== '|').sort().join(', ');
  return kinds.map(k => k.startsWith('instance:') ? `a ${k.slice('instance:'.length)}`
    : k.startsWith('type:') ? `an object with the properties ${properties(k.slice('type:'.length))}`
      : k === 'map' ? 'an object of named values' : ['true', 'false'].includes(k) ? k : `a ${k}`).join(' or ');
}

function walk(scope: IConstruct, shape: Shape, value: unknown, path: string): void {
  if (value === undefined) return;
  const property = path || 'props';
  if (typeof shape === 'string') {
    const kinds = shape.split('|');
    const type = kinds.find(k => k.startsWith('type:'));
    if (type !== undefined && isObject(value) && isPlain(value)) return walk(scope, TYPES[type.slice('type:'.length)], value, path);
    // a literal where a Secret reference belongs is a secret pasted into code: never repeated
    const secret = kinds.includes('instance:SecretKeyRef');
    check(kinds.some(k => isKind(k, value)), scope, property, secret ? '<redacted literal>' : value, () => secret ? SECRET_REF_EXPECTED : describe(kinds));
    return;
  }
  const alternatives = shape['|'] as string | undefined;
  if (alternatives !== undefined && alternatives.split('|').some(k => isKind(k, value))) return;
  const item = shape['[]'];
  const also = alternatives ? ` or ${describe(alternatives.split('|'))}` : '';
  if (item !== undefined) {
    check(Array.isArray(value), scope, property, value, () => `a list${also}`);
    (value as unknown[]).forEach((v, i) => {
      check(v !== undefined, scope, `${property}[${i}]`, v, 'an item (a list may not have holes or undefined)');
      walk(scope, item, v, `${path}[${i}]`);
    });
    return;
  }
  const values = shape['{}'];
  if (values !== undefined) {
    check(isObject(value), scope, property, value, () => `an object of named values${also}`);
    for (const [key, v] of Object.entries(value as object)) walk(scope, values, v, path ? `${path}.${key}` : key);
    return;
  }
  const known = () => Object.keys(shape).filter(k => k !== '|').sort();
  check(isObject(value), scope, property, value, () => `an object with the properties ${known().join(', ')}${also}`);
  if (!isPlain(value as object)) return; // a class instance: its own class checks it
  for (const [key, v] of Object.entries(value as object)) {
    const sub = key !== '|' && Object.prototype.hasOwnProperty.call(shape, key) ? shape[key] : undefined;
    check(sub !== undefined, scope, path ? `${path}.${key}` : key, v, () =>
      `a property ${path ? `of ${path} ` : ''}that exists: did you mean "${suggest(key, known())}"? (known: ${known().join(', ')})`);
    walk(scope, sub!, v, path ? `${path}.${key}` : key);
  }
}

/** The known name meant: the same in another case, else one that begins with the other (`repo`, `replica`), else the closest by edit distance. */
function suggest(key: string, known: string[]): string {
  const k = key.toLowerCase();
  return known.find(n => n.toLowerCase() === k)
    ?? known.find(n => n.toLowerCase().startsWith(k) || k.startsWith(n.toLowerCase()))
    ?? closest(key, known);
}
