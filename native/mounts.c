/*
 * The job's view of the file system, set up by init (root, in the job's new
 * mount namespace, before any of the user's code exists). Modelled on what
 * systemd gives a DynamicUser= service (ProtectSystem=strict, PrivateTmp=):
 *
 * - every mount private, so nothing here propagates to the host;
 * - the whole host read-only: a job's uid owns no file on the host, and with
 *   nowhere to write it can leave nothing behind for a later job that gets
 *   the same uid (world-writable folders such as /tmp were the leak);
 * - a fresh tmpfs on /tmp, /var/tmp and /dev/shm (charged to the job's
 *   memory cgroup, gone with the namespace) and a fresh mqueue;
 * - the job's scratch folder visible at its usual path and writable, even
 *   when a parent of it is now covered by the private /tmp;
 * - a /proc of its own pid namespace;
 * - /sys/fs/cgroup showing only its own cgroup (its cgroup namespace's root).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
#include "launcher.h"

#define CGROUP_ROOT "/sys/fs/cgroup"

/* Folders every user may write on a usual host: each gets a private tmpfs. */
static const char *const PRIVATE_TMP[] = { "/tmp", "/var/tmp", "/dev/shm" };

static bool is_directory(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Else our mounts would propagate back to the host when / is a shared mount
 * (the systemd default). */
static void make_mounts_private(void)
{
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		fail(STEP_MOUNT_PRIVATE, errno);
}

/* Every mount of the host, recursively, read-only (Linux 5.12+). Device
 * nodes stay usable: a read-only mount refuses writes to files, folders and
 * links, not to /dev/null or a terminal. */
static void make_host_read_only(void)
{
	struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY };
	if (mount_setattr(AT_FDCWD, "/", AT_RECURSIVE, &attr, sizeof attr) < 0)
		fail(STEP_READ_ONLY_ROOT, errno);
}

static void mount_private_tmp(const char *size)
{
	char options[64];
	if (size == NULL)
		snprintf(options, sizeof options, "mode=1777");
	else
		snprintf(options, sizeof options, "mode=1777,size=%s", size);
	for (size_t i = 0; i < sizeof PRIVATE_TMP / sizeof PRIVATE_TMP[0]; i++) {
		if (!is_directory(PRIVATE_TMP[i]))
			continue;
		if (mount("tmpfs", PRIVATE_TMP[i], "tmpfs", MS_NOSUID | MS_NODEV,
			  options) < 0)
			fail(STEP_PRIVATE_TMP, errno);
	}
	/* POSIX message queues: the host's /dev/mqueue shows the host's IPC
	 * namespace; a fresh one shows the job's own. */
	if (is_directory("/dev/mqueue") &&
	    mount("mqueue", "/dev/mqueue", "mqueue",
		  MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		fail(STEP_PRIVATE_TMP, errno);
}

/* mkdir -p for the parents of a mount point that a private tmpfs hid (the
 * state directory under /tmp). Only ever creates inside our own tmpfs. */
static int make_path(const char *path)
{
	char partial[PATH_MAX];
	if (strlen(path) >= sizeof partial) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(partial, path);
	for (char *slash = strchr(partial + 1, '/');; slash = strchr(slash + 1, '/')) {
		if (slash != NULL)
			*slash = '\0';
		if (mkdir(partial, 0755) < 0 && errno != EEXIST)
			return -1;
		if (slash == NULL)
			return 0;
		*slash = '/';
	}
}

/* The scratch folder, opened before anything is mounted over its parents,
 * is bound back at its own path and made writable again (only it: the rest
 * of its file system stays read-only). */
static void expose_scratch(int scratch_fd, const char *path)
{
	char source[64];
	snprintf(source, sizeof source, "/proc/self/fd/%d", scratch_fd);
	if (!is_directory(path) && make_path(path) < 0)
		fail(STEP_SCRATCH, errno);
	if (mount(source, path, NULL, MS_BIND, NULL) < 0 ||
	    mount(NULL, path, NULL, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV,
		  NULL) < 0)
		fail(STEP_SCRATCH, errno);
	close(scratch_fd);
}

/* A /proc for the new pid namespace; only init can mount it (proc belongs
 * to the mounting process's pid namespace). */
static void mount_proc(void)
{
	if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  NULL) < 0)
		fail(STEP_MOUNT_PROC, errno);
}

#define VIEW_FLAGS (MS_NOSUID | MS_NODEV | MS_NOEXEC)

/* Read-only for this mount only. Not MS_RDONLY at mount time: the file
 * system is the host's, mounted read-write, and asking for its superblock
 * read-only fails with EBUSY. */
static int make_mount_read_only(const char *path)
{
	return mount(NULL, path, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | VIEW_FLAGS,
		     NULL);
}

/* Mounted inside the job's cgroup namespace, a cgroup file system shows
 * that namespace's root, the job's own cgroup, as its top: the job sees its
 * own limits and usage, and neither other jobs nor the host's tree. */
static void mount_cgroup2_view(void)
{
	/* The kernel refuses a file system mounted on a mount point of the
	 * same superblock (the host's cgroup2 there) with EBUSY: an empty
	 * tmpfs goes between. */
	if (mount("tmpfs", CGROUP_ROOT, "tmpfs", VIEW_FLAGS, "size=4k") < 0 ||
	    mount("cgroup2", CGROUP_ROOT, "cgroup2", VIEW_FLAGS, NULL) < 0 ||
	    make_mount_read_only(CGROUP_ROOT) < 0)
		fail(STEP_CGROUP_VIEW, errno);
}

/* cgroup v1: a small tmpfs holding one mount per hierarchy the job is in
 * ("memory", "cpu,cpuacct"), with links from each controller's name as
 * hosts have them ("cpu" -> "cpu,cpuacct"), then made read-only. */
static void mount_cgroup1_views(const struct config *cfg)
{
	char path[PATH_MAX];
	if (mount("tmpfs", CGROUP_ROOT, "tmpfs", VIEW_FLAGS, "mode=755,size=64k") < 0)
		fail(STEP_CGROUP_VIEW, errno);
	for (size_t i = 0; i < cfg->n_cgroup1_views; i++) {
		const char *name = cfg->cgroup1_views[i];
		snprintf(path, sizeof path, CGROUP_ROOT "/%s", name);
		if (mkdir(path, 0755) < 0 ||
		    mount("cgroup", path, "cgroup", VIEW_FLAGS, name) < 0 ||
		    make_mount_read_only(path) < 0)
			fail(STEP_CGROUP_VIEW, errno);
		if (strchr(name, ',') == NULL)
			continue;
		char controllers[PATH_MAX];
		snprintf(controllers, sizeof controllers, "%s", name);
		for (char *c = strtok(controllers, ","); c != NULL; c = strtok(NULL, ",")) {
			snprintf(path, sizeof path, CGROUP_ROOT "/%s", c);
			if (symlink(name, path) < 0 && errno != EEXIST)
				fail(STEP_CGROUP_VIEW, errno);
		}
	}
	if (make_mount_read_only(CGROUP_ROOT) < 0)
		fail(STEP_CGROUP_VIEW, errno);
}

void set_up_file_system(const struct config *cfg)
{
	int scratch_fd = -1;
	make_mounts_private();
	/* Only the server writes this path, and no process of the job exists
	 * yet to swap it. */
	if (cfg->scratch != NULL &&
	    (scratch_fd = open(cfg->scratch, O_PATH | O_DIRECTORY | O_NOFOLLOW |
						     O_CLOEXEC)) < 0)
		fail(STEP_SCRATCH, errno);
	make_host_read_only();
	mount_private_tmp(cfg->tmpfs_size);
	if (scratch_fd >= 0)
		expose_scratch(scratch_fd, cfg->scratch);
	if (cfg->ns_flags & CLONE_NEWPID)
		mount_proc();
	if (cfg->cgroup2_view)
		mount_cgroup2_view();
	else if (cfg->n_cgroup1_views > 0)
		mount_cgroup1_views(cfg);
}
