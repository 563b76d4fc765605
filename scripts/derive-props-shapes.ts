// Derives lib/core/props-shapes.json: for each construct of lib/ (each exported class whose constructor takes
// `props`), the property names and value kinds its props interface declares, nested objects and arrays included, read
// from the TypeScript declarations with the compiler API. `checkKnownProps` (lib/core/known-props.ts) uses it at
// run time, so that a misspelt property fails synth in TypeScript without a type-check and in plain
// JavaScript alike. `__tests__/known-props.test.ts` fails when the shipped file and the declarations differ.
//
//   node -r ./scripts/register.js scripts/derive-props-shapes.ts > lib/core/props-shapes.json
//
// Shape: a leaf names the kinds of value allowed (string, number, boolean, a map such as `options` whose inside
// is not looked into, a class instance such as SecretKeyRef or AirflowConfig); `{ "[]": shape }` is an array;
// `{ "{}": shape }` is a map whose values have that shape; otherwise `{ property: shape }`, with `"|"` for leaf kinds
// a union also allows; `type:<Name>` is the shape of an
// interface of the Kubernetes API or of PodOptions, given once in `types`. See lib/core/known-props.ts.
import { join } from 'path';
import * as ts from 'typescript';

/**
 * A leaf: the kinds of value allowed, joined by '|': string, number, boolean, true, false, map (an object whose
 * inside is not looked into: `options`, label maps), `instance:<Class>` (SecretKeyRef, AirflowConfig, ...), function,
 * any. Or an object's properties, `{ "[]": item }` for an array, either with `"|"`: the leaf kinds also allowed
 * (`taskPodCleanup: {...} | false`).
 */
export type Shape = string | { [property: string]: Shape };

const LIB = join(__dirname, '..', 'lib');
/**
 * Files whose interfaces are shared by many props: the Kubernetes API (cdk8s-plus-28's generated bindings, which
 * imports/k8s.ts re-exports) and PodOptions. Shaped once, referenced as `type:<Name>`.
 */
const SHARED_TYPES = [join(__dirname, '..', 'node_modules', 'cdk8s-plus-28', 'lib', 'imports', 'k8s.d.ts'), join(LIB, 'core', 'pod-options.ts')];

export function derivePropsShapes(): string {
  const tsconfig = join(__dirname, '..', 'tsconfig.build.json');
  const { config } = ts.readConfigFile(tsconfig, ts.sys.readFile);
  const { options } = ts.parseJsonConfigFileContent(config, ts.sys, join(__dirname, '..'), undefined, tsconfig);
  const program = ts.createProgram([join(LIB, 'index.ts')], options);
  const checker = program.getTypeChecker();

  /** The leaf kind of a type that is no object with properties of its own, or undefined for one that is. */
  function leaf(type: ts.Type, open: Set<ts.Type>): string | undefined {
    const f = type.flags;
    if (f & (ts.TypeFlags.Any | ts.TypeFlags.Unknown)) return 'any';
    if (f & ts.TypeFlags.StringLike) return 'string';
    if (f & ts.TypeFlags.NumberLike) return 'number';
    if (f & ts.TypeFlags.BooleanLiteral) return (type as any).intrinsicName === 'true' ? 'true' : 'false';
    if (f & ts.TypeFlags.BooleanLike) return 'boolean';
    if (!(f & (ts.TypeFlags.Object | ts.TypeFlags.Intersection))) return 'any';
    if (type.getCallSignatures().length) return 'function';
    const symbol = type.getSymbol();
    if (symbol && symbol.flags & ts.SymbolFlags.Class) return `instance:${symbol.name}`;
    if (type.getStringIndexType() && type.getProperties().length > 0) return 'map';
    if (open.has(type)) return 'any'; // a recursive type: not looked into again
    return undefined;
  }

  function shape(type: ts.Type, open: Set<ts.Type>): Shape {
    type = checker.getNonNullableType(type);
    const parts = type.isUnion() ? type.types : [type];
    const kinds = new Set<string>();
    const objects: Exclude<Shape, string>[] = [];
    for (const part of parts) {
      if (checker.isArrayType(part)) {
        objects.push({ '[]': shape(checker.getTypeArguments(part as ts.TypeReference)[0], open) });
        continue;
      }
      const values = part.getStringIndexType();
      if (values && part.getProperties().length === 0 && !part.getCallSignatures().length) {
        // a map of objects such as Record<string, Pool>: each value has that shape; a map of plain values (labels,
        // `options`) stays a `map` leaf, whose construct checks it with messages of its own
        const item = shape(values, open);
        if (typeof item === 'string' || '{}' in item) kinds.add('map');
        else objects.push({ '{}': item });
        continue;
      }
      const kind = leaf(part, open);
      if (kind !== undefined) {
        kinds.add(kind);
        continue;
      }
      const declared = part.getSymbol()?.declarations?.[0]?.getSourceFile().fileName;
      const name = part.getSymbol()?.name;
      if (name && declared && SHARED_TYPES.includes(declared)) {
        if (!(name in types)) {
          types[name] = 'any'; // a recursive reference while it is being shaped
          open.add(part);
          const out: Record<string, Shape> = {};
          for (const p of checker.getPropertiesOfType(part).sort((a, b) => a.name.localeCompare(b.name))) out[p.name] = shape(checker.getTypeOfSymbol(p), open);
          open.delete(part);
          types[name] = out;
        }
        kinds.add(`type:${name}`);
        continue;
      }
      open.add(part);
      const out: Record<string, Shape> = {};
      for (const p of checker.getPropertiesOfType(part).sort((a, b) => a.name.localeCompare(b.name))) {
        out[p.name] = shape(checker.getTypeOfSymbol(p), open);
      }
      open.delete(part);
      objects.push(out);
    }
    if (kinds.has('true') && kinds.has('false')) {
      kinds.delete('true');
      kinds.delete('false');
      kinds.add('boolean');
    }
    const leafKinds = [...kinds].sort().join('|');
    if (objects.length === 0) return leafKinds;
    const merged: Record<string, Shape> = Object.assign({}, ...objects);
    return leafKinds ? { '|': leafKinds, ...merged } : merged;
  }

  const types: Record<string, Shape> = {};
  const shapes: Record<string, Shape> = {};
  for (const file of program.getSourceFiles().filter(f => f.fileName.startsWith(LIB)).sort((a, b) => a.fileName.localeCompare(b.fileName))) {
    for (const statement of file.statements) {
      if (!ts.isClassDeclaration(statement) || !statement.name || !statement.modifiers?.some(m => m.kind === ts.SyntaxKind.ExportKeyword)) continue;
      const ctor = statement.members.find(ts.isConstructorDeclaration);
      const props = ctor?.parameters.find(p => ts.isIdentifier(p.name) && p.name.text === 'props');
      if (props) shapes[statement.name.text] = shape(checker.getTypeAtLocation(props), new Set());
    }
  }
  return JSON.stringify({
    source: 'Derived by scripts/derive-props-shapes.ts from the props interfaces of lib/',
    shapes: Object.fromEntries(Object.keys(shapes).sort().map(k => [k, shapes[k]])),
    types: Object.fromEntries(Object.keys(types).sort().map(k => [k, types[k]])),
  }, null, 1) + '\n';
}

if (require.main === module) process.stdout.write(derivePropsShapes());
