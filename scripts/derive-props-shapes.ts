// Derives lib/props-shapes.json: for each construct of lib/ (each exported class whose constructor takes
// `props`), the property names its props interface declares, nested objects and arrays included, read
// from the TypeScript declarations with the compiler API. `checkKnownProps` (lib/known-props.ts) uses it at
// run time, so that a misspelt property fails synth in TypeScript without a type-check and in plain
// JavaScript alike. `__tests__/known-props.test.ts` fails when the shipped file and the declarations differ.
//
//   node -r ./scripts/register.js scripts/derive-props-shapes.ts > lib/props-shapes.json
//
// Shape: `1` for a value whose inside is not checked (primitives, string-keyed maps such as `options`,
// class instances such as SecretKeyRef or AirflowConfig, functions); `{ "[]": shape }` for an array;
// otherwise `{ property: shape }`.
import { join } from 'path';
import * as ts from 'typescript';

export type Shape = 1 | { [property: string]: Shape };

const LIB = join(__dirname, '..', 'lib');

export function derivePropsShapes(): string {
  const tsconfig = join(__dirname, '..', 'tsconfig.build.json');
  const { config } = ts.readConfigFile(tsconfig, ts.sys.readFile);
  const { options } = ts.parseJsonConfigFileContent(config, ts.sys, join(__dirname, '..'), undefined, tsconfig);
  const program = ts.createProgram([join(LIB, 'index.ts')], options);
  const checker = program.getTypeChecker();

  function shape(type: ts.Type, open: Set<ts.Type>): Shape {
    type = checker.getNonNullableType(type);
    if (type.isUnion()) {
      // string | SecretKeyRef, or several object types: the keys of every object part
      const parts = type.types.map(t => shape(t, open)).filter((s): s is Exclude<Shape, 1> => s !== 1);
      return parts.length ? Object.assign({}, ...parts) : 1;
    }
    if (checker.isArrayType(type)) return { '[]': shape(checker.getTypeArguments(type as ts.TypeReference)[0], open) };
    const symbol = type.getSymbol();
    if (!(type.flags & (ts.TypeFlags.Object | ts.TypeFlags.Intersection)) || type.getStringIndexType() || type.getCallSignatures().length
      || (symbol && symbol.flags & ts.SymbolFlags.Class) || open.has(type)) return 1;
    open.add(type);
    const out: Record<string, Shape> = {};
    for (const p of checker.getPropertiesOfType(type).sort((a, b) => a.name.localeCompare(b.name))) {
      out[p.name] = shape(checker.getTypeOfSymbol(p), open);
    }
    open.delete(type);
    return out;
  }

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
  }, null, 1) + '\n';
}

if (require.main === module) process.stdout.write(derivePropsShapes());
