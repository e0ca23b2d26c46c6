/** VS Code counts columns in UTF-16 code units; Hexad's proposal requests in code points. */

export function codePointColumn(lineText: string, utf16Column: number): number {
  return Array.from(lineText.slice(0, utf16Column)).length;
}

/** The identifier around a UTF-16 column, or undefined. */
export function identifierAt(lineText: string, utf16Column: number): { word: string; start: number } | undefined {
  const isWord = (ch: string): boolean => /[\p{L}\p{N}_]/u.test(ch);
  let start = utf16Column;
  while (start > 0 && isWord(lineText[start - 1])) {
    start -= 1;
  }
  let end = utf16Column;
  while (end < lineText.length && isWord(lineText[end])) {
    end += 1;
  }
  const word = lineText.slice(start, end);
  if (word === '' || /^\p{N}/u.test(word)) {
    return undefined;
  }
  return { word, start };
}

export function isIdentifier(name: string): boolean {
  return /^[\p{L}_][\p{L}\p{N}_]*$/u.test(name);
}

/** A path inside the workspace, with forward slashes; undefined when outside it. */
export function workspaceRelative(root: string, file: string): string | undefined {
  const norm = (p: string): string => p.replace(/\\/g, '/').replace(/\/+$/, '');
  const r = norm(root);
  const f = norm(file);
  if (!f.startsWith(r + '/')) {
    return undefined;
  }
  return f.slice(r.length + 1);
}
