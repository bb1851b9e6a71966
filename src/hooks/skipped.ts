import { badFiles, badFileText } from '../sys/bad-files.js';
import { log } from '../sys/log.js';

/**
 * State files a hook skipped (another network's bad record, say) go to the log, not to stderr:
 * libvirt shows a hook's stderr as its error, and the hook did its job.
 */
export function logSkipped(hook: string, event: string): void {
  for (const b of badFiles.take()) log().warn(`skipped ${badFileText(b)}`, { hook, event, path: b.path });
}
