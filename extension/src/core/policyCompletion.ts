/**
 * Completion in Hexad policy files (TOML), driven by the JSON Schema generated from the
 * server's pydantic models (`hexad policy schema`). Validation stays with the server,
 * which publishes diagnostics for policy files as they are typed.
 *
 * The TOML reading here is deliberately small: which table the cursor is in (the last
 * `[header]` or `[[header]]` above it), whether it is at a key or after `key =`, and
 * whether it is inside an inline table or an array on that line.
 */

export type JsonSchema = {
  $ref?: string;
  $defs?: Record<string, JsonSchema>;
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  additionalProperties?: boolean | JsonSchema;
  patternProperties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  description?: string;
  title?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  pattern?: string;
};

export type SuggestionKind = 'property' | 'value' | 'table';

export interface Suggestion {
  label: string;
  kind: SuggestionKind;
  insertText: string;
  detail?: string;
  documentation?: string;
  /** The text before the cursor this suggestion replaces (the word being typed). */
  replace: number;
}

export type Context =
  | { at: 'header'; prefix: string; arrayTable: boolean }
  | { at: 'key'; path: string[]; prefix: string; present: string[] }
  | { at: 'value'; path: string[]; key: string; inArray: boolean; prefix: string; quoted: boolean };

const HEADER = /^\s*(\[\[?)\s*([A-Za-z0-9_.\-" ]*?)\s*\]\]?\s*(#.*)?$/;
const KEY_LINE = /^\s*([A-Za-z0-9_\-"]+(?:\s*\.\s*[A-Za-z0-9_\-"]+)*)\s*=/;

function splitKey(key: string): string[] {
  return key
    .split('.')
    .map((k) => k.trim().replace(/^"(.*)"$/, '$1'))
    .filter((k) => k.length > 0);
}

/** What the cursor (line, UTF-16 column) is on. */
export function contextAt(text: string, line: number, character: number): Context | undefined {
  const lines = text.split(/\r?\n/);
  const current = (lines[line] ?? '').slice(0, character);
  if (/^\s*#/.test(current) || inString(current)) {
    return undefined;
  }
  // the table the cursor is in, and the keys already written in it
  let table: string[] = [];
  let headerLine = -1;
  for (let i = line - 1; i >= 0; i--) {
    const match = HEADER.exec(lines[i]);
    if (match !== null && !KEY_LINE.test(lines[i])) {
      table = splitKey(match[2]);
      headerLine = i;
      break;
    }
  }
  const headerStart = /^\s*(\[\[?)\s*([A-Za-z0-9_.-]*)$/.exec(current);
  if (headerStart !== null) {
    return { at: 'header', prefix: headerStart[2], arrayTable: headerStart[1] === '[[' };
  }
  const present: string[] = [];
  for (let i = headerLine + 1; i < lines.length; i++) {
    if (i === line) {
      continue;
    }
    if (i > line && HEADER.test(lines[i]) && !KEY_LINE.test(lines[i])) {
      break;
    }
    const key = KEY_LINE.exec(lines[i]);
    if (key !== null) {
      present.push(splitKey(key[1])[0]);
    }
  }
  // inside an inline table on this line: `when = { kinds = [...], pa|`
  const inline = innermostInline(current);
  if (inline !== undefined) {
    const path = [...table, ...inline.path];
    const tail = lastSegment(current.slice(inline.offset));
    return valueOrKey(tail, path, inline.present);
  }
  return valueOrKey(current, table, present);
}

function valueOrKey(tail: string, path: string[], present: string[]): Context {
  const assign = /(?:^|[,{]|^\s*)\s*([A-Za-z0-9_\-"]+(?:\s*\.\s*[A-Za-z0-9_\-"]+)*)\s*=\s*(.*)$/.exec(tail);
  if (assign !== null) {
    const keys = splitKey(assign[1]);
    const value = assign[2];
    const inArray = openBrackets(value) > 0;
    const word = /(["']?)([A-Za-z0-9_.-]*)$/.exec(value);
    return {
      at: 'value',
      path: [...path, ...keys.slice(0, -1)],
      key: keys[keys.length - 1],
      inArray,
      prefix: word?.[2] ?? '',
      quoted: (word?.[1] ?? '') !== '',
    };
  }
  const prefix = /([A-Za-z0-9_-]*)$/.exec(tail)?.[1] ?? '';
  return { at: 'key', path, prefix, present };
}

/** The innermost unclosed `key = {` on the line: its key path and keys already in it. */
function innermostInline(text: string): { path: string[]; offset: number; present: string[] } | undefined {
  const stack: { path: string[]; offset: number }[] = [];
  let inStr: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (inStr !== undefined) {
      if (ch === inStr && text[i - 1] !== '\\') {
        inStr = undefined;
      }
      continue;
    }
    if (ch === '"' || ch === "'") {
      inStr = ch;
    } else if (ch === '{') {
      const before = text.slice(stack.length > 0 ? stack[stack.length - 1].offset : 0, i);
      const key = /([A-Za-z0-9_\-"]+(?:\s*\.\s*[A-Za-z0-9_\-"]+)*)\s*=\s*$/.exec(before);
      const parent = stack.length > 0 ? stack[stack.length - 1].path : [];
      stack.push({ path: [...parent, ...(key ? splitKey(key[1]) : [])], offset: i + 1 });
    } else if (ch === '}') {
      stack.pop();
    }
  }
  const top = stack[stack.length - 1];
  if (top === undefined) {
    return undefined;
  }
  const inner = text.slice(top.offset);
  const present = [...inner.matchAll(/(?:^|,)\s*([A-Za-z0-9_-]+)\s*=/g)].map((m) => m[1]);
  return { ...top, present };
}

/** The text after the last comma outside brackets and strings (one inline-table entry). */
function lastSegment(text: string): string {
  let depth = 0;
  let inStr: string | undefined;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (inStr !== undefined) {
      if (ch === inStr) {
        inStr = undefined;
      }
    } else if (ch === '"' || ch === "'") {
      inStr = ch;
    } else if (ch === '[' || ch === '{') {
      depth += 1;
    } else if (ch === ']' || ch === '}') {
      depth -= 1;
    } else if (ch === ',' && depth === 0) {
      start = i + 1;
    }
  }
  return text.slice(start);
}

function openBrackets(value: string): number {
  let depth = 0;
  let inStr: string | undefined;
  for (const ch of value) {
    if (inStr !== undefined) {
      if (ch === inStr) {
        inStr = undefined;
      }
    } else if (ch === '"' || ch === "'") {
      inStr = ch;
    } else if (ch === '[') {
      depth += 1;
    } else if (ch === ']') {
      depth -= 1;
    }
  }
  return depth;
}

function inString(text: string): boolean {
  let inStr: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (inStr !== undefined) {
      if (ch === inStr && text[i - 1] !== '\\') {
        inStr = undefined;
      }
    } else if (ch === '#') {
      return false;
    } else if (ch === '"' || ch === "'") {
      inStr = ch;
    }
  }
  return inStr !== undefined && !/["'][A-Za-z0-9_\-.]*$/.test(text);
}

// -- the schema ---------------------------------------------------------------------

export class PolicySchema {
  constructor(private readonly root: JsonSchema) {}

  /** `$ref`s followed and `anyOf [X, null]` unwrapped. */
  resolve(schema: JsonSchema | undefined): JsonSchema | undefined {
    let node = schema;
    for (let i = 0; node !== undefined && i < 16; i++) {
      if (node.$ref !== undefined) {
        const name = node.$ref.replace(/^#\/\$defs\//, '');
        const target = this.root.$defs?.[name];
        node = target === undefined ? undefined : { ...target, ...withoutRef(node) };
        continue;
      }
      if (node.anyOf !== undefined) {
        const useful = node.anyOf.filter((s) => s.type !== 'null');
        if (useful.length === 1) {
          node = { ...useful[0], description: node.description ?? useful[0].description, default: node.default };
          continue;
        }
      }
      return node;
    }
    return node;
  }

  /** The schema at a key path; arrays of tables (`[[rules]]`) step into their items. */
  at(path: readonly string[]): JsonSchema | undefined {
    let node = this.resolve(this.root);
    for (const key of path) {
      if (node === undefined) {
        return undefined;
      }
      if (node.type === 'array' && node.items !== undefined) {
        node = this.resolve(node.items);
      }
      const next: JsonSchema | undefined = node?.properties?.[key] ?? freeform(node, key);
      node = this.resolve(next);
    }
    if (node?.type === 'array' && node.items !== undefined && this.isTableArray(node)) {
      return this.resolve(node.items);
    }
    return node;
  }

  private isTableArray(node: JsonSchema): boolean {
    const items = this.resolve(node.items);
    return items?.type === 'object' || items?.properties !== undefined;
  }

  /** Table headers: `budgets`, `routing.default`, `routing.tasks.<task>`, `[[rules]]`. */
  headers(): { name: string; arrayTable: boolean; description?: string }[] {
    const out: { name: string; arrayTable: boolean; description?: string }[] = [];
    const walk = (node: JsonSchema | undefined, prefix: string[]): void => {
      for (const [key, raw] of Object.entries(node?.properties ?? {})) {
        const child = this.resolve(raw);
        if (child === undefined) {
          continue;
        }
        const name = [...prefix, key];
        if (child.type === 'array' && this.isTableArray(child)) {
          out.push({ name: name.join('.'), arrayTable: true, description: describe(child) });
        } else if (child.type === 'object' || child.properties !== undefined) {
          if (child.properties !== undefined) {
            out.push({ name: name.join('.'), arrayTable: false, description: describe(child) });
            walk(child, name);
          }
          if (hasFreeform(child)) {
            // `[routing.tasks.<name>]`: the user types the name
            out.push({ name: `${name.join('.')}.`, arrayTable: false, description: describe(child) });
          }
        }
      }
    };
    walk(this.resolve(this.root), []);
    return out;
  }
}

/** The schema of a key not among `properties`: `patternProperties`, `additionalProperties`. */
function freeform(node: JsonSchema | undefined, key: string): JsonSchema | undefined {
  for (const [pattern, schema] of Object.entries(node?.patternProperties ?? {})) {
    if (new RegExp(pattern, 'u').test(key)) {
      return schema;
    }
  }
  return typeof node?.additionalProperties === 'object' ? node.additionalProperties : undefined;
}

function hasFreeform(node: JsonSchema): boolean {
  return node.patternProperties !== undefined || typeof node.additionalProperties === 'object';
}

function withoutRef(node: JsonSchema): JsonSchema {
  const copy = { ...node };
  delete copy.$ref;
  return copy;
}

export function describe(schema: JsonSchema | undefined): string | undefined {
  if (schema === undefined) {
    return undefined;
  }
  const text = schema.description ?? schema.title;
  return text?.replace(/``/g, '`');
}

export function typeLabel(schema: JsonSchema | undefined): string {
  if (schema === undefined) {
    return '';
  }
  if (schema.enum !== undefined) {
    return schema.enum.map((v) => JSON.stringify(v)).join(' | ');
  }
  if (schema.const !== undefined) {
    return JSON.stringify(schema.const);
  }
  const type = Array.isArray(schema.type) ? schema.type.join(' | ') : (schema.type ?? (schema.properties ? 'table' : ''));
  const bounds: string[] = [];
  if (schema.minimum !== undefined) {
    bounds.push(`≥ ${schema.minimum}`);
  }
  if (schema.exclusiveMinimum !== undefined) {
    bounds.push(`> ${schema.exclusiveMinimum}`);
  }
  if (schema.maximum !== undefined) {
    bounds.push(`≤ ${schema.maximum}`);
  }
  return [type === 'object' ? 'table' : type, ...bounds].join(' ');
}

function tomlValue(value: unknown): string {
  if (typeof value === 'string') {
    return JSON.stringify(value);
  }
  return String(value);
}

/** Completion suggestions at the cursor. */
export function complete(schema: PolicySchema, text: string, line: number, character: number): Suggestion[] {
  const context = contextAt(text, line, character);
  if (context === undefined) {
    return [];
  }
  if (context.at === 'header') {
    return schema
      .headers()
      .filter((h) => h.arrayTable === context.arrayTable || !context.arrayTable)
      .filter((h) => h.name.startsWith(context.prefix))
      .map((h) => ({
        label: h.name,
        kind: 'table',
        insertText: h.name,
        detail: h.arrayTable ? 'array of tables' : 'table',
        documentation: h.description,
        replace: context.prefix.length,
      }));
  }
  if (context.at === 'key') {
    const node = schema.at(context.path);
    const props = node?.properties ?? {};
    return Object.entries(props)
      .filter(([key]) => !context.present.includes(key) && key.startsWith(context.prefix))
      .map(([key, raw]) => {
        const child = schema.resolve(raw);
        const isTable = child?.type === 'object' || child?.properties !== undefined;
        const example =
          child?.default !== undefined && child.default !== null && !isTable && !Array.isArray(child.default)
            ? tomlValue(child.default)
            : child?.type === 'array'
              ? '[]'
              : isTable
                ? '{}'
                : child?.type === 'string' || child?.enum !== undefined
                  ? '""'
                  : '';
        return {
          label: key,
          kind: 'property' as const,
          insertText: `${key} = ${example}`,
          detail: typeLabel(child),
          documentation: describe(child),
          replace: context.prefix.length,
        };
      });
  }
  const parent = schema.at(context.path);
  let node = schema.resolve(parent?.properties?.[context.key]);
  if (node?.type === 'array' && context.inArray) {
    node = schema.resolve(node.items);
  }
  const values: unknown[] = node?.enum ?? (node?.const !== undefined ? [node.const] : node?.type === 'boolean' ? [true, false] : []);
  return values
    .map((v) => ({
      label: String(v),
      kind: 'value' as const,
      insertText: tomlValue(v),
      detail: typeLabel(node),
      documentation: describe(node),
      replace: context.prefix.length + (context.quoted ? 1 : 0),
    }))
    .filter((s) => s.label.startsWith(context.prefix));
}
