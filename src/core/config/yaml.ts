// Reading YAML 1.2 input files (a JSON document is YAML too) with line numbers for messages.
// The readers walk the document's nodes, not a plain JS copy, so that every problem can name
// the line it is on; each reader reports what is wrong and returns undefined, so a caller
// keeps going and the user gets all the problems of a file at once.
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { Issue, Result } from '../model.js';
import { describeValue, parseDuration } from './duration.js';
import { closest } from '../suggest.js';

/** The value of one key of a mapping; `value` is undefined when the key has no value (`key:`). */
export interface Entry {
  readonly key: Node;
  readonly value: Node | undefined;
}

/** Path to the element `index` of the list at `path`, or to the key `key` of the mapping at `path`. */
export const at = (path: string, index: number): string => `${path}[${index}]`;
export const dot = (path: string, key: string): string => (path ? `${path}.${key}` : key);

/** What the parser's messages (yaml 2.x) mean, in plain words; the first that matches is used. */
const SYNTAX_WORDS: readonly (readonly [RegExp, string])[] = [
  [/Tabs are not allowed/, 'a tab indents this line; YAML indents with spaces only'],
  [/Map keys must be unique/, 'this key is given twice in the same mapping; keep one'],
  [/must start at the same column/, 'this line does not line up with the lines of its list or mapping: their items start in the same column'],
  [/Sequence item without - indicator/, 'this line is indented like the items of a list but does not start with "- "; indent it like the keys above it, or start a new item with "- "'],
  [/Missing closing .?quote/, 'a quote (" or \') opened above is never closed: add the closing quote'],
  [/Flow (sequence|mapping) .*end with a/, 'a [ or { opened above is not closed: add the closing ] or }'],
  [/Missing , (or : )?between/, 'two items inside [ ] or { } have no comma between them'],
  [/Block collections are not allowed within flow collections/, 'inside [ ] or { }, items are separated by commas on one line; is a comma missing?'],
  [/Missing space after :/, 'a ":" must be followed by a space: key: value'],
  [/Implicit map keys need to be followed by map values/, 'a key without a value: write key: value'],
  [/Implicit keys need to be on a single line|Nested mappings are not allowed in compact mappings|on same line with key/, 'a "key: value" must fit on one line; is a "- " or a ":" missing here or on the line before, or a quote or bracket left open above?'],
  [/escape sequence/, 'an unknown \\ escape in a "double-quoted" text: write \\\\ for a backslash, or use single quotes'],
  [/Comments must be separated/, 'a # that starts a comment needs a space before it'],
  [/Plain value cannot start with/, 'a value cannot start with this character unquoted: put the value in quotes'],
  [/Source contains multiple documents/, 'a second document (---) in the file; an Arbiter file holds one'],
];

/** A YAML syntax error in plain words, with the parser's own message after it. */
function syntaxMessage(message: string): string {
  const said = message.split('\n')[0]?.replace(/[.:]\s*$/, '') ?? message;
  const words = SYNTAX_WORDS.find(([pattern]) => pattern.test(said))?.[1] ?? 'the text here cannot be read as YAML';
  return `${words} (the parser says: ${said})`;
}

export class YamlInput {
  readonly issues: Issue[] = [];
  readonly warnings: Issue[] = [];
  /** Where in the text each issue is (parallel to `issues`), to list them in document order. */
  private readonly offsets: number[] = [];

  private constructor(
    readonly file: string,
    private readonly doc: Document.Parsed,
    private readonly lines: LineCounter,
  ) {}

  /**
   * Parses `text`. On a syntax error the issues hold every error the parser found and `root` is
   * undefined; an empty document gives `root: null`.
   */
  static parse(text: string, file: string): { input: YamlInput; root: Node | null | undefined } {
    const lines = new LineCounter();
    const doc = parseDocument(text, { version: '1.2', lineCounter: lines, prettyErrors: false });
    const input = new YamlInput(file, doc, lines);
    for (const warning of doc.warnings) {
      input.warnings.push({
        file,
        line: lines.linePos(warning.pos[0]).line,
        path: '',
        message: `YAML: ${warning.message}`,
      });
    }
    // The first syntax error only, in plain words: the parser's later errors are mostly its
    // confusion after the first one, and the file is read again once that one is fixed.
    const first = [...doc.errors].sort((a, b) => a.pos[0] - b.pos[0])[0];
    if (first !== undefined) {
      const { line, col } = lines.linePos(first.pos[0]);
      const more = doc.errors.length - 1;
      input.issues.push({
        file,
        line,
        column: col,
        path: '',
        message: `YAML syntax error: ${syntaxMessage(first.message)}${more > 0 ? `; fix this first, the ${more} other error${more === 1 ? '' : 's'} found after it may follow from it` : ''}`,
      });
      input.offsets.push(first.pos[0]);
      return { input, root: undefined };
    }
    return { input, root: input.resolve(doc.contents, '') ?? null };
  }

  /** `value()` when no problem was found, else the problems in document order. */
  result<T>(value: () => T): Result<T> {
    return this.issues.length === 0 ? { ok: true, value: value(), warnings: this.warnings } : this.failure();
  }

  /** The problems found so far, in document order. */
  failure(): { readonly ok: false; readonly issues: readonly Issue[] } {
    const order = this.issues
      .map((_, index) => index)
      .sort((a, b) => (this.offsets[a] ?? 0) - (this.offsets[b] ?? 0));
    return { ok: false, issues: order.flatMap((index) => this.issues[index] ?? []) };
  }

  error(path: string, node: Node | undefined, message: string): void {
    this.report(path, message, node?.range?.[0]);
  }

  /** Adds an issue at `offset` in the text (its line is computed), or without a place. */
  private report(path: string, message: string, offset: number | undefined): void {
    const { file } = this;
    this.issues.push(
      offset === undefined
        ? { file, path, message }
        : { file, line: this.lines.linePos(offset).line, path, message },
    );
    this.offsets.push(offset ?? -1);
  }

  /**
   * Appends `(note)` to the messages of the problems reported since there were `from`, e.g. the
   * team they belong to: `expected a number > 0, got 0 (team "research")`.
   */
  noteSince(from: number, note: string): void {
    for (let i = from; i < this.issues.length; i++) {
      const issue = this.issues[i];
      if (issue) this.issues[i] = { ...issue, message: `${issue.message} (${note})` };
    }
  }

  /** Follows an alias (`*name`) to the node it names; a null scalar counts as no value. */
  private resolve(node: Node | null | undefined, path: string): Node | undefined {
    if (node === null || node === undefined) return undefined;
    if (isAlias(node)) {
      const target = node.resolve(this.doc);
      if (target === undefined)
        this.error(path, node, `alias *${node.source} names no anchor; define &${node.source} first`);
      return this.resolve(target, path);
    }
    if (isScalar(node) && node.value === null) return undefined;
    return node;
  }

  /**
   * The keys of the mapping at `path`, in file order. Keys not in `allowed` are reported (with
   * the allowed keys) and left out. Reports and returns undefined when `node` is not a mapping.
   */
  mapping(
    node: Node | undefined,
    path: string,
    allowed: readonly string[] | null,
  ): Map<string, Entry> | undefined {
    if (!isMap(node)) {
      this.error(path, node, `expected a mapping (key: value lines or { ... }), got ${this.describe(node)}`);
      return undefined;
    }
    const entries = new Map<string, Entry>();
    for (const pair of node.items) {
      const key = pair.key as Node;
      const name = isScalar(key) ? String(key.value) : '';
      if (!isScalar(key) || name === '') {
        this.error(path, key, `keys must be plain names, got ${this.describe(key)}`);
        continue;
      }
      if (allowed !== null && !allowed.includes(name)) {
        const meant = closest(name, allowed);
        this.error(dot(path, name), key, `unknown key "${name}"; ${meant !== undefined ? `did you mean "${meant}"? ` : ''}allowed keys: ${allowed.join(', ')}`);
        continue;
      }
      entries.set(name, { key, value: this.resolve(pair.value as Node | null, dot(path, name)) });
    }
    return entries;
  }

  /** The elements of the list at `path`; reports and returns undefined when `node` is not a list. */
  list(node: Node | undefined, path: string): (Node | undefined)[] | undefined {
    if (!isSeq(node)) {
      this.error(
        path,
        node,
        `expected a list (lines starting with "- " or [ ... ]), got ${this.describe(node)}`,
      );
      return undefined;
    }
    return node.items.map((item, index) => this.resolve(item as Node | null, at(path, index)));
  }

  /** The value of a required key, or undefined after reporting it missing; `what` says what to give. */
  required(
    entries: Map<string, Entry>,
    key: string,
    parent: Node | undefined,
    path: string,
    what: string,
  ): Node | undefined {
    const entry = entries.get(key);
    if (entry?.value === undefined) {
      this.error(dot(path, key), entry?.key ?? parent, `missing; give ${what}`);
      return undefined;
    }
    return entry.value;
  }

  /** The plain JS value of a scalar, or undefined for lists and mappings. */
  scalar(node: Node | undefined): unknown {
    return isScalar(node) ? node.value : undefined;
  }

  nonEmptyString(node: Node, path: string): string | undefined {
    const value = this.scalar(node);
    if (typeof value === 'string' && value.trim() !== '') return value;
    this.error(path, node, `expected a non-empty string, got ${this.describe(node)}`);
    return undefined;
  }

  /** An integer >= `min` (1: a positive integer, 0: a non-negative integer). */
  integer(node: Node, path: string, min: 0 | 1, what: string): number | undefined {
    const value = this.scalar(node);
    if (typeof value === 'number' && Number.isSafeInteger(value) && value >= min) return value;
    this.error(path, node, `expected ${what}, got ${this.describe(node)}`);
    return undefined;
  }

  finiteNumber(node: Node, path: string): number | undefined {
    const value = this.scalar(node);
    if (typeof value === 'number' && Number.isFinite(value)) return value;
    this.error(path, node, `expected a number, got ${this.describe(node)}`);
    return undefined;
  }

  boolean(node: Node, path: string): boolean | undefined {
    const value = this.scalar(node);
    if (typeof value === 'boolean') return value;
    this.error(path, node, `expected true or false, got ${this.describe(node)}`);
    return undefined;
  }

  oneOf<T extends string>(node: Node, path: string, choices: readonly T[]): T | undefined {
    const value = this.scalar(node);
    const choice = choices.find((c) => c === value);
    if (choice !== undefined) return choice;
    this.error(path, node, `expected one of ${choices.join(', ')}, got ${this.describe(node)}`);
    return undefined;
  }

  duration(node: Node, path: string): number | undefined {
    const seconds = parseDuration(isScalar(node) ? node.value : this.plain(node));
    if (typeof seconds === 'number') return seconds;
    this.error(path, node, seconds);
    return undefined;
  }

  /** The node's value as a plain JS value (aliases followed), for parts kept opaque. */
  plain(node: Node): unknown {
    return node.toJS(this.doc);
  }

  describe(node: Node | undefined): string {
    if (isMap(node)) return 'a mapping';
    if (isSeq(node)) return 'a list';
    return describeValue(this.scalar(node));
  }
}
