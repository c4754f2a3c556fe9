// What the project's text cites must be in the project: a reader of a comment or a doc can follow
// every reference without anything from outside the repository but the papers it names. Pure
// functions over (path, text) pairs, so citations.test.ts can plant each kind of bad citation.

/** Names of documents that were never part of the repository, and references to an issue
 *  tracker or to work sessions a reader cannot see. */
const OUTSIDE_DOCUMENTS = /VR-NOTES|\bBRIEF\b|STYLE\.md|\.\.\/shared\/|\bissues? #?\d+\b|\bsessions? \d+\b/gi;

/** A repository path as text cites it: `lib/…`, `bin/…`, `test/…` or `docs/…`, ending in a
 *  source or document extension. A path preceded by `/` or `.` is an import specifier (relative,
 *  resolved by the compiler) or a build output (`dist/…`), not a citation. */
const PATH_CITATION = /(?<![\w./-])((?:lib|bin|test|docs)\/[\w./-]*?\w\.(?:ts|md|json))(?![\w/])/g;

/** A Markdown link target that is a relative path: `[text](path)` or `[text](path#anchor)`. */
const MARKDOWN_LINK = /\]\((?!https?:|#|mailto:)([^)\s#]+)(?:#[^)]*)?\)/g;

/** A disk rule as the code cites it (docs/architecture.md, "The disk rules"). */
const DISK_RULE = /\bD(\d+)\b/g;

/** A driver duty as the code cites it: "duty 4", "duties 2–3" (lib/replication/types.ts). */
const DUTY = /\bdut(?:y|ies) (\d+)(?:\s*[–-]\s*(\d+))?/g;

export interface Citable {
  /** Every file of the repository, relative to its top, `/`-separated. */
  files: Set<string>;
  /** The numbers of the disk rules docs/architecture.md defines (`**D4.`). */
  diskRules: Set<number>;
  /** How many driver duties lib/replication/types.ts numbers. */
  duties: number;
}

/** The rule numbers defined in docs/architecture.md: each rule starts with `**Dn.`. */
export function definedDiskRules(architecture: string): Set<number> {
  return new Set([...architecture.matchAll(/\*\*D(\d+)\./g)].map((match) => Number(match[1])));
}

/** How many duties the header of lib/replication/types.ts numbers (`//   n. …`). */
export function numberedDuties(types: string): number {
  const header = types.slice(types.indexOf('Duties of the driver'));
  return [...header.matchAll(/^\/\/\s+(\d+)\.\s/gm)].length;
}

function lineOf(text: string, index: number): number {
  let line = 1;
  for (let i = 0; i < index; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/** Every citation in `text` (the file at `path`) that points outside the repository or at
 *  something it does not have. */
export function citationProblems(path: string, text: string, citable: Citable): string[] {
  const problems: string[] = [];
  const at = (index: number): string => `${path}:${lineOf(text, index)}`;
  for (const match of text.matchAll(OUTSIDE_DOCUMENTS)) {
    problems.push(`${at(match.index!)} cites "${match[0]}", which is not in the repository: put what the reader needs into docs/`);
  }
  for (const match of text.matchAll(PATH_CITATION)) {
    if (!citable.files.has(match[1]!)) problems.push(`${at(match.index!)} cites ${match[1]}, which does not exist`);
  }
  if (path.endsWith('.md')) {
    const folder = path.includes('/') ? path.slice(0, path.lastIndexOf('/') + 1) : '';
    for (const match of text.matchAll(MARKDOWN_LINK)) {
      const target = normalise(folder + match[1]!);
      if (!citable.files.has(target) && ![...citable.files].some((file) => file.startsWith(`${target}/`))) {
        problems.push(`${at(match.index!)} links to ${match[1]}, which does not exist`);
      }
    }
  }
  for (const match of text.matchAll(DISK_RULE)) {
    if (!citable.diskRules.has(Number(match[1]))) problems.push(`${at(match.index!)} cites disk rule ${match[0]}, which docs/architecture.md does not define`);
  }
  for (const match of text.matchAll(DUTY)) {
    const highest = Number(match[2] ?? match[1]);
    if (Number(match[1]) < 1 || highest > citable.duties) problems.push(`${at(match.index!)} cites ${match[0]}, but lib/replication/types.ts numbers ${citable.duties} duties`);
  }
  return problems;
}

/** `a/b/../c` → `a/c`, `a/./b` → `a/b`. */
function normalise(path: string): string {
  const parts: string[] = [];
  for (const part of path.split('/')) {
    if (part === '..') parts.pop();
    else if (part !== '.' && part !== '') parts.push(part);
  }
  return parts.join('/');
}
