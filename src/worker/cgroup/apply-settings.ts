/**
 * Carries out a job's cgroup writes (cgroup-settings.ts says which), in
 * order, each failure a JobError naming the file, the value and the job.
 */
import { limitEveryDisk } from "./block-devices.ts";
import { writeCgroupFile, writeSettingSync } from "./cgroup-files.ts";
import type { Setting } from "./cgroup-settings.ts";

export async function applySettings(
  settings: readonly Setting[],
  folderOf: (hierarchy: string) => string,
  jobId: string,
): Promise<void> {
  for (const { hierarchy, file, value, perDisk } of settings) {
    const path = `${folderOf(hierarchy)}/${file}`;
    if (perDisk === true) {
      await limitEveryDisk(`${file} of job ${jobId}`, (device) =>
        writeCgroupFile(path, `${device.majorMinor} ${value}`),
      );
    } else {
      // A new, empty cgroup: the write returns at once (writeCgroupFileSync).
      writeSettingSync(path, value, `set ${file} of job ${jobId} to "${value}"`);
    }
  }
}
