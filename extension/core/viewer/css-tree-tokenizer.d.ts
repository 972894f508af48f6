// css-tree's tokenizer alone (the package's `./tokenizer` export); @types/css-tree types only the whole package.
declare module 'css-tree/tokenizer' {
  /** Calls `onToken` for every token of `source` (CSS Syntax Level 3), with its type and offsets. */
  export function tokenize(source: string, onToken: (type: number, start: number, end: number) => void): void;
}
