/**
 * URIs of the read-only documents that show a proposal's files before and after it:
 * `hexad-proposal:/<id>/<side>/<path>` (the path keeps its name, so the editor picks the
 * right language; the query says which file of the proposal it is).
 */

export type Side = 'before' | 'after';

export interface DiffRef {
  id: number;
  side: Side;
  path: string;
}

/** The path part of a `hexad-proposal:` URI for a file of a proposal. */
export function diffPath(ref: DiffRef): string {
  const clean = ref.path.replace(/\\/g, '/').replace(/^\/+/, '');
  return `/${ref.id}/${ref.side}/${clean}`;
}

export function parseDiffPath(path: string): DiffRef | undefined {
  const match = /^\/(\d+)\/(before|after)\/(.+)$/.exec(path);
  if (match === null) {
    return undefined;
  }
  return { id: Number(match[1]), side: match[2] as Side, path: match[3] };
}

/** The key a document's text is cached under. */
export function cacheKey(ref: DiffRef): string {
  return diffPath(ref);
}

/** The title of a side-by-side diff: `#3 Rename a to b: stock.py (0.91 proceed)`. */
export function diffTitle(id: number, task: string, path: string, confidence?: number, decision?: string): string {
  const name = path.split('/').pop() ?? path;
  const score = confidence === undefined ? '' : ` (${confidence.toFixed(2)}${decision ? ` ${decision}` : ''})`;
  return `Hexad #${id} ${task}: ${name}${score}`;
}

/** The title of a proposal's changes to several files (VS Code adds the count of files):
 * `Hexad #3 Rename a to b (0.91 proceed)`. */
export function changesTitle(id: number, task: string, confidence?: number, decision?: string): string {
  const score = confidence === undefined ? '' : ` (${confidence.toFixed(2)}${decision ? ` ${decision}` : ''})`;
  return `Hexad #${id} ${task}${score}`;
}

/** Is `uri` (as a string) the server's unified-diff file of a proposal? */
export function serverDiffFile(uri: string): number | undefined {
  const match = /\/\.hexad\/proposals\/(\d+)\.diff$/.exec(uri);
  return match === null ? undefined : Number(match[1]);
}
