import type { Dirent } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import { join, relative, sep } from "node:path";

/** A file in the inbox as one poll saw it. */
export interface InboxEntry {
  /** Relative to the inbox, with `/` separators: what rule prefixes are matched against. */
  relativePath: string;
  absolutePath: string;
  bytes: number;
  mtimeMs: number;
}

// Names that writers use while a file is still being written; the finished file is renamed into place.
const partialSuffixes = [".part", ".partial", ".tmp", ".crdownload", ".download", "~"];

/** Dotfiles and dot-folders (`.processed`, `.failed`, editors' swap files) and partial uploads are skipped. */
export function isIgnoredName(name: string): boolean {
  if (name.startsWith(".")) return true;
  const lower = name.toLowerCase();
  return partialSuffixes.some((end) => lower.endsWith(end));
}

/**
 * Every regular file under `dir`, depth first. Symbolic links are not followed: a link in the inbox could
 * otherwise hand any file the server can read to a pipeline. Files that vanish mid-scan are skipped.
 */
export async function scanInbox(dir: string): Promise<InboxEntry[]> {
  const found: InboxEntry[] = [];
  await walk(dir, dir, found);
  return found;
}

async function walk(root: string, dir: string, found: InboxEntry[]): Promise<void> {
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
    throw error;
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    if (isIgnoredName(entry.name)) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      await walk(root, path, found);
      continue;
    }
    if (!entry.isFile()) continue;
    try {
      const info = await stat(path);
      found.push({
        relativePath: relative(root, path).split(sep).join("/"),
        absolutePath: path,
        bytes: info.size,
        mtimeMs: Math.floor(info.mtimeMs),
      });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
  }
}
