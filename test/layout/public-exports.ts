/*
 * Lists what `src/index.ts` exports, values and types, with the TypeScript compiler: the
 * public-exports test compares it to the pinned list beside it.
 */
import { join } from 'node:path';
import ts from 'typescript';

/** Each export of `src/index.ts` as `value name` or `type name`, sorted. */
export function publicExports(root: string): string[] {
  const entry = join(root, 'src/index.ts');
  const program = ts.createProgram([entry], {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    strict: true,
    noEmit: true,
  });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(entry);
  const module = source && checker.getSymbolAtLocation(source);
  if (!module) throw new Error(`cannot read the exports of ${entry}`);
  return checker
    .getExportsOfModule(module)
    .map((symbol) => {
      const target =
        symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
      const isValue = (target.flags & ts.SymbolFlags.Value) !== 0;
      return `${isValue ? 'value' : 'type'} ${symbol.getName()}`;
    })
    .sort();
}
