/** Disk use of a directory (its files, recursively) and the free space of its filesystem, for status reports. */
import { readdir, stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';

export interface DiskUsage {
  /** Bytes of the files under the directory. */
  usedBytes: number;
  /** Bytes available to unprivileged users on its filesystem. */
  freeBytes: number;
}

export async function diskUsage(dir: string): Promise<DiskUsage> {
  const [usedBytes, fs] = await Promise.all([directorySize(dir), statfs(dir)]);
  return { usedBytes, freeBytes: fs.bavail * fs.bsize };
}

async function directorySize(dir: string): Promise<number> {
  let total = 0;
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += await directorySize(path);
    else if (entry.isFile()) total += await stat(path).then((s) => s.size, () => 0);
  }
  return total;
}
